"""``top_examples``: streamed top-k against a brute-force numpy oracle on real models.

The oracle runs the whole dataset through ``extract`` and ranks every sample of every
channel in numpy (value descending, then sample index, then first cell in row-major order).
"""

from __future__ import annotations

import sys

import keras
import numpy as np
import pytest
from helpers import small_cnn

import fmwidget
from fmwidget import introspect
from fmwidget.scan import plan
from fmwidget.topk import ScoreStep

L = keras.layers


def oracle(model, x, name, k):
    """(values, indices, positions) of the full ranking, computed in numpy."""
    fm = fmwidget.extract(model, x.astype("float32"))
    info = fm.info(name)
    a = fm[name]
    if info.data_format == "channels_first":
        a = np.moveaxis(a, 1, -1)
    n, c = a.shape[0], a.shape[-1]
    flat = a.reshape(n, -1, c)
    top, cell = flat.max(1), flat.argmax(1)  # numpy: first cell of the maximum
    values, indices, positions = [], [], []
    for ch in range(c):
        order = np.lexsort((np.arange(n), -top[:, ch].astype(np.float64)))[:k]
        values.append(top[order, ch])
        indices.append(order)
        positions.append(np.stack(np.unravel_index(cell[order, ch], info.spatial_shape), -1))
    return np.array(values), np.array(indices), np.array(positions)


def assert_matches_oracle(ex, model, x, k):
    for name in ex.layers:
        values, indices, positions = oracle(model, x, name, k)
        np.testing.assert_array_equal(ex.indices(name), indices, err_msg=name)
        np.testing.assert_array_equal(ex.positions(name), positions, err_msg=name)
        np.testing.assert_allclose(ex.values(name), values, rtol=1e-5, atol=1e-6, err_msg=name)
        assert ex.values(name).dtype == np.float32 and ex.indices(name).dtype == np.int64


def seq_cnn():
    return keras.Sequential(
        [
            keras.Input((12, 12, 2)),
            L.Conv2D(4, 3, padding="same", activation="relu", name="c1"),
            L.MaxPooling2D(2, name="p1"),
            L.Conv2D(5, 3, name="c2"),
            L.ReLU(name="r2"),
            L.Flatten(name="flat"),
            L.Dense(3, name="head"),
        ],
        name="seq_cnn",
    )


@pytest.fixture(scope="module")
def seq():
    keras.utils.set_random_seed(7)
    model = seq_cnn()
    x = np.random.default_rng(7).random((75, 12, 12, 2), dtype=np.float32)
    return model, x


def test_small_cnn_matches_brute_force():
    model = small_cnn()
    x = np.random.default_rng(3).normal(size=(70, 16, 16, 3)).astype("float32")
    ex = fmwidget.top_examples(model, x, k=5, batch_size=16, progress=False)
    assert ex.layers == ["conv1", "pool1", "conv2", "relu2", "pool2"]  # no bn, no global pool
    assert_matches_oracle(ex, model, x, 5)
    fm = fmwidget.extract(model, x[:1])
    for name in ex.layers:  # the stored value is extract's value at that cell
        for ch in (0, ex.channels(name) - 1):
            i, pos = int(ex.indices(name)[ch, 0]), tuple(ex.positions(name)[ch, 0])
            want = fmwidget.extract(model, x[i])[name][(0, *pos, ch)]
            np.testing.assert_allclose(ex.values(name)[ch, 0], want, rtol=1e-5, atol=1e-6)
            box = ex.boxes(name)[ch, 0]
            assert [slice(*b) for b in box] == list(fm.receptive_field(name, pos))


def test_channels_first_and_1d_match_brute_force():
    if keras.backend.backend() == "tensorflow":
        model = None  # TF's CPU kernels have no channels_first Conv2D
    else:
        model = small_cnn("channels_first")
        x = np.random.default_rng(4).normal(size=(40, 3, 16, 16)).astype("float32")
        ex = fmwidget.top_examples(model, x, k=4, batch_size=16, progress=False)
        assert_matches_oracle(ex, model, x, 4)
        patch = ex.patches("conv2", 2)[0]
        assert patch.shape[0] == 3  # channels stay first
    seq1d = keras.Sequential(
        [keras.Input((30, 2)), L.Conv1D(3, 5, strides=2, name="c"), L.MaxPooling1D(2, name="p")]
    )
    x1 = np.random.default_rng(5).normal(size=(33, 30, 2)).astype("float32")
    ex1 = fmwidget.top_examples(seq1d, x1, k=3, batch_size=8, progress=False)
    assert_matches_oracle(ex1, seq1d, x1, 3)
    assert ex1.positions("p").shape == (3, 3, 1)
    assert model is None or ex.k == 4


def shared_and_nested():
    """A layer called twice, a nested model and a raw op between layers."""
    inner = keras.Sequential(
        [keras.Input((10, 10, 4)), L.Conv2D(4, 3, padding="same", activation="relu", name="ic")],
        name="inner",
    )
    inp = keras.Input((10, 10, 2))
    shared = L.Conv2D(4, 3, padding="same", activation="relu", name="shared")
    a = shared(inp)
    b = shared(L.Conv2D(2, 1, name="mix")(inp))
    d = L.MaxPooling2D(2, name="pool")(keras.ops.add(inner(a), b))
    out = L.Dense(3, name="head")(L.Flatten()(d))
    return keras.Model(inp, out, name="shared_nested")


def test_shared_and_nested_calls_match_brute_force_over_many_batches():
    keras.utils.set_random_seed(11)
    model = shared_and_nested()
    x = np.random.default_rng(11).normal(size=(45, 10, 10, 2)).astype("float32")
    ex = fmwidget.top_examples(model, x, k=4, batch_size=8, progress=False)
    assert {"shared", "shared:1", "inner/ic", "pool"} <= set(ex.layers)
    assert_matches_oracle(ex, model, x, 4)
    # After the first batch the step taps only the tracked calls (the light path).
    (step,) = model.__dict__["_fmwidget_score_steps"].values()
    targets, counts = step.__dict__["_taps"]
    shared = model.get_layer("shared")
    assert [n for layer, n in targets if layer is shared] == [0, 1]
    assert counts[id(shared)] == 2


class Repeat(keras.Model):
    """Calls its conv ``times`` times: the number of calls changes between passes."""

    def __init__(self):
        super().__init__(name="repeat")
        self.conv = L.Conv2D(2, 3, padding="same", name="conv")
        self.pool = L.MaxPooling2D(2, name="pool")
        self.times = 1

    def call(self, x):
        for _ in range(self.times):
            x = self.conv(x)
        return self.pool(x)


def test_step_recaptures_when_the_calls_change():
    model = Repeat()
    x = np.random.default_rng(12).normal(size=(3, 8, 8, 2)).astype("float32")
    _, slots = plan(model, x[:1], ["conv", "pool"])
    step = ScoreStep(model, slots, 2)
    for times in (1, 1, 2):  # capture, tap, then a pass with one more conv call
        model.times = times
        got = step._forward(keras.ops.convert_to_tensor(x))
        want = fmwidget.extract(model, x)
        for name, y in zip(("conv", "pool"), got, strict=True):
            np.testing.assert_allclose(keras.ops.convert_to_numpy(y), want[name], atol=1e-6)
        targets, counts = step.__dict__["_taps"]
        assert counts[id(model.conv)] == times and [n for _, n in targets] == [0, 0]


def planted():
    """A 3x3 plus detector and a dead filter, on blank images with planted pluses."""
    plus = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], np.float32)
    model = keras.Sequential(
        [
            keras.Input((10, 10, 1)),
            L.Conv2D(2, 3, padding="same", use_bias=False, activation="relu", name="conv"),
            L.MaxPooling2D(2, name="pool"),
        ]
    )
    kernel = np.zeros((3, 3, 1, 2), np.float32)
    kernel[:, :, 0, 0] = plus
    kernel[:, :, 0, 1] = -1.0  # never positive on non-negative images: always 0
    model.get_layer("conv").set_weights([kernel])
    x = np.zeros((30, 10, 10, 1), np.float32)
    plants = {17: (1.0, (4, 6)), 3: (0.8, (2, 2)), 25: (0.9, (7, 1)), 11: (0.8, (5, 5))}
    for i, (strength, (r, c)) in plants.items():
        x[i, r - 1 : r + 2, c - 1 : c + 2, 0] = strength * plus
    return model, x, plus


def test_planted_pattern_found_exactly():
    model, x, plus = planted()
    ex = fmwidget.top_examples(model, x, k=6, batch_size=8, progress=False)
    # Plus detector: the planted samples by strength (ties: lower index), each at its centre.
    np.testing.assert_array_equal(ex.indices("conv")[0], [17, 25, 3, 11, 0, 1])
    np.testing.assert_array_equal(ex.positions("conv")[0, :4], [(4, 6), (7, 1), (2, 2), (5, 5)])
    np.testing.assert_array_equal(ex.values("conv")[0], np.float32([5.0, 4.5, 4.0, 4.0, 0, 0]))
    np.testing.assert_array_equal(ex.positions("conv")[0, 4:], [(0, 0), (0, 0)])  # blank: 1st cell
    patches = ex.patches("conv", 0)
    for j, strength in enumerate([1.0, 0.9, 0.8, 0.8]):
        np.testing.assert_array_equal(patches[j][..., 0], np.float32(strength) * plus)
    # Dead filter: every sample ties at 0 everywhere: lowest indices, first cell.
    np.testing.assert_array_equal(ex.indices("conv")[1], np.arange(6))
    assert not ex.values("conv")[1].any() and not ex.positions("conv")[1].any()
    # Pooling keeps the winners; the pooled cell is the one holding the centre.
    np.testing.assert_array_equal(ex.indices("pool")[0, :4], [17, 25, 3, 11])
    np.testing.assert_array_equal(ex.positions("pool")[0, :4], [(2, 3), (3, 0), (1, 1), (2, 2)])


def batches_of(x, sizes):
    start = 0
    for size in sizes:
        yield x[start : start + size]
        start += size


class Seq(keras.utils.PyDataset):
    def __init__(self, x, size):
        super().__init__()
        self.x, self.size = x, size

    def __len__(self):
        return -(-len(self.x) // self.size)

    def __getitem__(self, i):
        xb = self.x[i * self.size : (i + 1) * self.size]
        return xb, np.zeros(len(xb))


def test_every_data_kind_gives_the_same_result(seq):
    model, x = seq
    want = fmwidget.top_examples(model, x, k=4, batch_size=16, progress=False)
    assert_matches_oracle(want, model, x, 4)
    y = np.arange(len(x))
    kinds = {
        "PyDataset": Seq(x, 10),
        "generator of uneven batches": batches_of(x, [10, 7, 30, 28]),
        "(x, y) tuples": ((x[i : i + 20], y[i : i + 20]) for i in range(0, 75, 20)),
        "(x, y, w) tuples": [(x[i : i + 25], y[i : i + 25], y[i : i + 25]) for i in (0, 25, 50)],
        "list of batches": [x[:50], x[50:]],
    }
    try:
        import tensorflow as tf

        kinds["tf.data"] = tf.data.Dataset.from_tensor_slices((x, y)).batch(12)
    except ImportError:
        pass
    try:
        import torch

        loader = torch.utils.data.DataLoader(
            torch.utils.data.TensorDataset(torch.from_numpy(x)), batch_size=9
        )
        kinds["torch DataLoader"] = loader
    except ImportError:
        pass
    for kind, data in kinds.items():
        got = fmwidget.top_examples(model, data, k=4, batch_size=16, progress=False)
        assert got.num_samples == 75, kind
        for name in want.layers:
            np.testing.assert_array_equal(got.indices(name), want.indices(name), err_msg=kind)
            np.testing.assert_array_equal(got.values(name), want.values(name), err_msg=kind)
            np.testing.assert_array_equal(got.positions(name), want.positions(name), err_msg=kind)


def test_integer_images_are_cast_not_scaled(seq):
    model, _ = seq
    x = np.random.default_rng(2).integers(0, 256, (40, 12, 12, 2), dtype=np.uint8)
    got = fmwidget.top_examples(model, x, k=3, batch_size=16, progress=False)
    want = fmwidget.top_examples(model, x.astype("float32"), k=3, batch_size=16, progress=False)
    for name in want.layers:
        np.testing.assert_array_equal(got.values(name), want.values(name))
        np.testing.assert_array_equal(got.indices(name), want.indices(name))
    assert got.patches("c2", 0)[0].dtype == np.uint8  # crops keep the data's dtype
    assert_matches_oracle(got, model, x, 3)


def test_small_dataset_and_kept_samples(seq):
    model, x = seq
    ex = fmwidget.top_examples(model, x[:3], k=9, batch_size=16, progress=False)
    assert ex.k == 3 and ex.values("c1").shape == (4, 3)
    assert sorted(set(ex.indices("c1").ravel())) == [0, 1, 2]
    ex = fmwidget.top_examples(model, x, k=2, batch_size=8, progress=False)
    winners = np.unique(np.concatenate([ex.indices(n).ravel() for n in ex.layers]))
    np.testing.assert_array_equal(ex.sample_ids, winners)  # each winner once, nothing else
    np.testing.assert_array_equal(ex.sample(int(winners[0])), x[winners[0]])
    with pytest.raises(ValueError, match="winning sample"):
        ex.sample(int(np.setdiff1d(np.arange(75), winners)[0]))
    lean = fmwidget.top_examples(model, x, k=2, batch_size=8, progress=False, keep_samples=False)
    np.testing.assert_array_equal(lean.boxes("c2"), ex.boxes("c2"))
    with pytest.raises(ValueError, match="keep_samples=False"):
        lean.patches("c2", 0)


def test_save_load_round_trip(seq, tmp_path):
    model, x = seq
    ex = fmwidget.top_examples(model, x, k=3, batch_size=16, progress=False)
    path = tmp_path / "examples.top"  # any name: nothing is appended
    ex.save(path)
    assert path.exists() and not (tmp_path / "examples.top.npz").exists()
    with np.load(path, allow_pickle=False) as z:  # portable: no pickled objects inside
        assert {z[f].dtype.kind for f in z.files} <= set("fiub")
    back = fmwidget.TopExamples.load(path)
    assert back.layers == ex.layers and back.k == 3 and back.num_samples == 75
    assert back.model_name == "seq_cnn" and back.input_shape == (12, 12, 2)
    for name in ex.layers:
        for what in ("values", "indices", "positions", "boxes"):
            np.testing.assert_array_equal(getattr(back, what)(name), getattr(ex, what)(name))
        assert back.info(name) == ex.info(name)
    for a, b in zip(back.patches("r2", 4), ex.patches("r2", 4), strict=True):
        np.testing.assert_array_equal(a, b)
    assert back.summary() == ex.summary()
    np.savez(tmp_path / "other.npz", a=np.zeros(3))
    with pytest.raises(ValueError, match="no header"):
        fmwidget.TopExamples.load(tmp_path / "other.npz")
    (tmp_path / "junk").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="Expected a TopExamples"):
        fmwidget.TopExamples.load(tmp_path / "junk")


def wrong_batch_mid_stream(x):
    yield x[:10]
    yield x[10:20]
    yield x[20:30, :11]


@pytest.mark.parametrize(
    ("args", "error", "message"),
    [
        ({"data": "empty"}, ValueError, r"at least one sample, received empty data"),
        ({"data": "empty_iter"}, ValueError, r"at least one sample, received empty data"),
        ({"data": "wrong"}, ValueError, r"batch 2 of shape \(N, 12, 12, 2\), received \(10, 11"),
        ({"data": "unbatched"}, ValueError, r"batch 0 .*one sample, not a batch"),
        ({"data": "text"}, TypeError, r"received str"),
        ({"data": "bools"}, TypeError, r"batch 0 to hold numbers.*bool"),
        ({"k": 0}, ValueError, r"Expected k >= 1, received 0"),
        ({"k": -3}, ValueError, r"Expected k >= 1, received -3"),
        ({"k": 2.5}, TypeError, r"Expected an int k, received float"),
        ({"batch_size": 0}, ValueError, r"Expected batch_size >= 1"),
        ({"layers": ["c1", "c22"]}, fmwidget.LayerNotFoundError, r"received 'c22'.*Did you mean"),
        ({"layers": "flat"}, ValueError, r"spatial feature map.*'flat' \(Flatten\).*\(80,\)"),
        ({"layers": []}, ValueError, r"at least one layer name"),
        ({"engine": "spark"}, ValueError, r"engine 'local' or 'ray', received 'spark'"),
    ],
)
def test_bad_input_gets_a_clear_error(seq, args, error, message):
    model, x = seq
    data = {
        "empty": x[:0],
        "empty_iter": iter([]),
        "wrong": wrong_batch_mid_stream(x),
        "unbatched": [x[0], x[1]],
        "text": "images/",
        "bools": x > 0.5,
    }.get(args.pop("data", None), x)
    with pytest.raises(error, match=message):
        fmwidget.top_examples(model, data, progress=False, **args)


def test_model_must_be_keras():
    with pytest.raises(TypeError, match=r"Expected a keras\.Model"):
        fmwidget.top_examples(object(), np.zeros((2, 4, 4, 1)), progress=False)


def test_progress_and_interrupt_leave_nothing_half_made(seq):
    model, x = seq
    seen = []
    fmwidget.top_examples(model, x, k=2, batch_size=16, on_progress=lambda *a: seen.append(a))
    assert seen[0] == (0, 75) and seen[-1] == (75, 75)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)

    def stop(done, total):
        if done >= 32:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fmwidget.top_examples(model, x, k=2, batch_size=16, progress=False, on_progress=stop)
    for layer in introspect._all_layers(model):  # no recorder left installed
        assert "call" not in layer.__dict__, layer.name
    model.__dict__.pop("_fmwidget_score_steps", None)  # and nothing compiled is needed
    again = fmwidget.top_examples(model, x, k=2, batch_size=16, progress=False)
    assert_matches_oracle(again, model, x, 2)


def test_progress_bar_goes_to_stderr(seq, capsys):
    model, x = seq
    fmwidget.top_examples(model, x[:20], k=2, batch_size=8)
    err = capsys.readouterr().err
    assert "top examples" in err and "/20" in err


def test_ray_missing_says_how_to_install(seq, monkeypatch):
    model, x = seq
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ImportError, match=r'pip install "fmwidget\[ray\]"'):
        fmwidget.top_examples(model, x, engine="ray", progress=False)


def test_ray_actor_blocks_merged_in_any_order_equal_local(seq):
    """The Ray engine's actor and merge, run in-process on shuffled blocks (no cluster)."""
    from fmwidget.batches import chunks
    from fmwidget.ray_engine import TopKActor, merge_blobs
    from fmwidget.scan import Progress, build_result, plan

    model, x = seq
    want = fmwidget.top_examples(model, x, k=3, batch_size=16, progress=False)
    items = list(chunks(x, 16, (12, 12, 2)))
    fm, slots = plan(model, items[0].x[:1], None)
    actor = TopKActor(model, [s.name for s in slots], 3, 16, keras.backend.backend())
    blocks = [items[3:], items[:1], items[1:3]]  # blocks of whole chunks, out of order
    blobs = []
    for block in blocks:
        raw = [np.concatenate([c.raw, np.zeros((16 - len(c.raw), 12, 12, 2), "f4")]) for c in block]
        batch = {"chunk_ids": np.stack([c.ids for c in block]), "chunk_raw": np.stack(raw)}
        blobs.append(bytes(actor(batch)["blob"][0]))
    report = Progress(None, False, None)
    state, keeper = merge_blobs(reversed(blobs), sum(s.channels for s in slots), 3, report)
    got = build_result(fm, slots, state, report.done, keeper)
    assert got.num_samples == 75
    for name in want.layers:
        for what in ("values", "indices", "positions", "boxes"):
            np.testing.assert_array_equal(getattr(got, what)(name), getattr(want, what)(name))
    np.testing.assert_array_equal(got.sample_ids, want.sample_ids)


def test_nan_maps_score_lowest():
    model = keras.Sequential([keras.Input((6, 6, 1)), L.Conv2D(3, 3, padding="same", name="c")])
    x = np.random.default_rng(8).random((12, 6, 6, 1), dtype=np.float32)
    x[3, 2, 2, 0] = np.nan  # every map of sample 3 holds NaN
    ex = fmwidget.top_examples(model, x, k=12, batch_size=4, progress=False)
    assert (ex.indices("c")[:, -1] == 3).all()  # last, after every finite score
    assert np.isneginf(ex.values("c")[:, -1]).all() and np.isfinite(ex.values("c")[:, :-1]).all()
    assert_matches_oracle_without(ex, model, np.delete(x, 3, axis=0), skip=3)


def assert_matches_oracle_without(ex, model, x, skip):
    for name in ex.layers:
        values, indices, _ = oracle(model, x, name, ex.k - 1)
        indices = indices + (indices >= skip)  # back to the indices of the full dataset
        np.testing.assert_array_equal(ex.indices(name)[:, :-1], indices)
        np.testing.assert_allclose(ex.values(name)[:, :-1], values, rtol=1e-5, atol=1e-6)


def test_backend_merge_orders_like_the_numpy_merge():
    """The backend's merge (``top_k`` on its sort key; PyTorch's own sort) against
    :func:`topk.merge`: ties, +-0, -inf scores and empty slots, which sort below -inf."""
    from fmwidget import topk

    rng = np.random.default_rng(11)
    channels, k, b = 7, 5, 8
    choices = np.array([-np.inf, -1.0, -0.0, 0.0, 0.5, 2.0], np.float32)

    def batch_state(first, width, padding):
        ids = np.arange(first, first + width, dtype=np.int64)
        ids[width - padding :] = topk.EMPTY
        values = rng.choice(choices, (channels, width)).astype(np.float32)
        values[:, ids == topk.EMPTY] = -np.inf
        cells = rng.integers(0, 9, (channels, width))
        return topk.State(values, np.broadcast_to(ids, (channels, width)).copy(), cells), ids

    seen, _ = batch_state(0, 3, 0)  # 3 samples seen: two empty slots per channel
    seen.indices[0] = topk.EMPTY  # channel 0 has seen nothing
    state = topk.merge(topk.State.empty(channels, k), seen)
    state.values[state.values == 0] = 0.0  # the backend's state holds no -0.0
    batch, ids = batch_state(10, b, 2)  # the last two rows are padding
    batch.values[0] = -np.inf  # real -inf scores against empty slots
    batch.cells[np.isneginf(batch.values)] = 0  # an all -inf map: its first cell
    want = topk.merge(state, batch)
    np.testing.assert_array_equal(want.indices[0], [10, 11, 12, 13, 14])

    # maps of 3x3 cells: each channel's batch value at its cell, -inf elsewhere
    maps = np.full((b, 9, channels), -np.inf, np.float32)
    for ch in range(channels):
        maps[np.arange(b), batch.cells[ch], ch] = batch.values[ch]
    y = keras.ops.convert_to_tensor(maps.reshape(b, 3, 3, channels))
    arrays = [state.values, state.indices.astype(np.int32), state.cells.astype(np.int32)]
    carry = [keras.ops.convert_to_tensor(a) for a in arrays]
    ids_t = keras.ops.convert_to_tensor(ids.astype(np.int32))
    score = topk.score  # torch.topk keeps no order among ties: PyTorch has its own
    if keras.backend.backend() == "torch":
        from fmwidget.topk_torch import score
    got = [keras.ops.convert_to_numpy(t) for t in score([(y, "channels_last")], ids_t, *carry, k)]
    np.testing.assert_array_equal(got[0], want.values)
    np.testing.assert_array_equal(got[1], want.indices)
    np.testing.assert_array_equal(got[2], want.cells)


@pytest.mark.parametrize("spatial", [(7,), (5, 6), (3, 4, 5), (2, 3, 2, 3)])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_channel_max_finds_the_first_maximum_like_numpy(spatial, data_format):
    """The backend's per-channel maximum and first cell (row-major) on maps full of ties,
    as contiguous arrays and as transposed views (PyTorch's pooling outputs are views)."""
    from fmwidget import topk

    rng = np.random.default_rng(len(spatial))
    b, c = 6, 5
    maps = rng.integers(0, 3, (b, *spatial, c)).astype(np.float32)  # many equal maxima
    maps[0, ..., 0] = 2.0  # every cell holds the maximum: the first cell wins
    flat = maps.reshape(b, -1, c)
    want_top, want_cell = flat.max(1), flat.argmax(1)
    y = maps if data_format == "channels_last" else np.moveaxis(maps, -1, 1)
    channel_max = topk.channel_max
    if keras.backend.backend() == "torch":
        from fmwidget.topk_torch import channel_max
    for tensor in (
        keras.ops.convert_to_tensor(np.ascontiguousarray(y)),
        keras.ops.moveaxis(
            keras.ops.convert_to_tensor(np.ascontiguousarray(np.moveaxis(y, 1, -1))), -1, 1
        ),
    ):
        top, cell = (keras.ops.convert_to_numpy(t) for t in channel_max(tensor, data_format))
        np.testing.assert_array_equal(top, want_top)
        np.testing.assert_array_equal(cell, want_cell)


def test_plan_follows_a_sequential_model_that_changes():
    """The plan (layers, shapes, geometry) is reused between calls, but not once a layer
    is added, and never for a subclassed model."""
    from fmwidget.examples import _PLANS

    keras.utils.set_random_seed(3)
    model = keras.Sequential([keras.Input((9, 9, 1)), L.Conv2D(2, 3, name="a")])
    x = np.random.default_rng(3).random((10, 9, 9, 1), dtype=np.float32)
    assert fmwidget.top_examples(model, x, k=2, progress=False).layers == ["a"]
    plans = model.__dict__[_PLANS]
    fmwidget.top_examples(model, x, k=2, progress=False)
    assert model.__dict__[_PLANS] is plans  # reused
    model.add(L.MaxPooling2D(2, name="b"))
    ex = fmwidget.top_examples(model, x, k=2, progress=False)
    assert ex.layers == ["a", "b"]
    assert_matches_oracle(ex, model, x, 2)
    sub = Repeat()
    fmwidget.top_examples(sub, x[..., [0, 0]][:, :8, :8], k=2, progress=False)
    assert _PLANS not in sub.__dict__
