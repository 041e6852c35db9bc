"""``top_examples`` on 1-D sequences and 3-D volumes: the ranking against the brute-force numpy
oracle of ``test_examples``, patches equal to the input cut at the exact receptive field, and
planted shapes found where they were planted."""

from __future__ import annotations

import keras
import numpy as np
from helpers import L
from test_examples import assert_matches_oracle

import fmwidget


def seq_model() -> keras.Model:
    inp = keras.Input((24, 2))
    x = L.Conv1D(4, 5, padding="causal", activation="relu", name="c1")(inp)
    x = L.MaxPooling1D(2, name="p1")(x)
    x = L.Conv1D(3, 3, dilation_rate=2, name="c2")(x)
    x = L.GlobalAveragePooling1D(name="gap")(x)
    return keras.Model(inp, L.Dense(2, name="head")(x))


def volume_model() -> keras.Model:
    inp = keras.Input((8, 8, 8, 1))
    x = L.Conv3D(3, 3, padding="same", activation="relu", name="c1")(inp)
    x = L.MaxPooling3D(2, name="p1")(x)
    x = L.Conv3D(2, (2, 3, 3), strides=(1, 2, 2), padding="same", name="c2")(x)
    x = L.Flatten(name="flat")(x)
    return keras.Model(inp, L.Dense(2, name="head")(x))


def check_patches(ex: fmwidget.TopExamples, model: keras.Model, data: np.ndarray) -> None:
    """Each patch is the sample cut at the receptive field of its winning cell."""
    fm = fmwidget.extract(model, data[:1])
    for name in ex.layers:
        for ch in range(ex.channels(name)):
            patches = ex.patches(name, ch)
            for j, patch in enumerate(patches):
                i, pos = int(ex.indices(name)[ch, j]), tuple(ex.positions(name)[ch, j])
                box = fm.receptive_field(name, pos)
                assert [slice(*b) for b in ex.boxes(name)[ch, j]] == list(box)
                np.testing.assert_array_equal(patch, data[i][box])
                if j == 0:  # the stored value is extract's value at that cell (one sample)
                    want = fmwidget.extract(model, data[i])[name][(0, *pos, ch)]
                    np.testing.assert_allclose(ex.values(name)[ch, j], want, rtol=1e-5, atol=1e-6)


def test_sequences_match_brute_force_and_patches_are_the_fields():
    model = seq_model()
    data = np.random.default_rng(1).normal(size=(37, 24, 2)).astype("float32")
    ex = fmwidget.top_examples(model, data, k=4, batch_size=8, progress=False)
    assert ex.layers == ["c1", "p1", "c2"]
    assert ex.positions("c2").shape == (3, 4, 1) and ex.boxes("c2").shape == (3, 4, 1, 2)
    assert_matches_oracle(ex, model, data, 4)
    check_patches(ex, model, data)
    # causal: the first cells see fewer than 5 steps, so their patches are shorter
    assert {len(p) for ch in range(4) for p in ex.patches("c1", ch)} <= set(range(1, 6))


def test_volumes_match_brute_force_and_patches_are_the_fields():
    model = volume_model()
    data = np.random.default_rng(2).normal(size=(21, 8, 8, 8, 1)).astype("float32")
    ex = fmwidget.top_examples(model, data, k=3, batch_size=8, progress=False)
    assert ex.layers == ["c1", "p1", "c2"]
    assert ex.positions("c2").shape == (2, 3, 3) and ex.boxes("c2").shape == (2, 3, 3, 2)
    assert_matches_oracle(ex, model, data, 3)
    check_patches(ex, model, data)


def test_planted_shapes_are_found_where_they_were_planted():
    """A hand-set detector finds its shape in time (1-D) and in a volume (3-D)."""
    # 1-D: a rising-then-falling bump of 5 steps, planted at known times
    bump = np.array([0.2, 0.7, 1.0, 0.7, 0.2], np.float32)
    seq = keras.Sequential(
        [keras.Input((30, 1)), L.Conv1D(1, 5, use_bias=False, activation="relu", name="c")]
    )
    seq.get_layer("c").set_weights([(bump - bump.mean())[:, None, None]])
    x = np.zeros((12, 30, 1), np.float32)
    plants = {7: (1.0, 20), 2: (0.9, 3), 10: (0.5, 11)}
    for i, (strength, start) in plants.items():
        x[i, start : start + 5, 0] = strength * bump
    ex = fmwidget.top_examples(seq, x, k=3, batch_size=4, progress=False)
    np.testing.assert_array_equal(ex.indices("c")[0], [7, 2, 10])
    np.testing.assert_array_equal(ex.positions("c")[0, :, 0], [20, 3, 11])  # valid: start
    for patch, (strength, _) in zip(ex.patches("c", 0), plants.values(), strict=True):
        np.testing.assert_array_equal(patch[:, 0], np.float32(strength) * bump)
    # 3-D: a 3x3x3 cross planted in blank volumes
    cross = np.zeros((3, 3, 3), np.float32)
    cross[1, 1, :] = cross[1, :, 1] = cross[:, 1, 1] = 1.0
    vol = keras.Sequential(
        [
            keras.Input((8, 8, 8, 1)),
            L.Conv3D(1, 3, padding="same", use_bias=False, activation="relu", name="c"),
        ]
    )
    vol.get_layer("c").set_weights([(cross - 0.3)[..., None, None]])
    v = np.zeros((6, 8, 8, 8, 1), np.float32)
    centres = {4: (1.0, (2, 5, 3)), 1: (0.8, (6, 1, 6))}
    for i, (strength, (d, r, c)) in centres.items():
        v[i, d - 1 : d + 2, r - 1 : r + 2, c - 1 : c + 2, 0] = strength * cross
    ex = fmwidget.top_examples(vol, v, k=2, batch_size=4, progress=False)
    np.testing.assert_array_equal(ex.indices("c")[0], [4, 1])
    np.testing.assert_array_equal(ex.positions("c")[0], [(2, 5, 3), (6, 1, 6)])
    for patch, (strength, _) in zip(ex.patches("c", 0), centres.values(), strict=True):
        np.testing.assert_array_equal(patch[..., 0], np.float32(strength) * cross)
