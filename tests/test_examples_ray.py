"""``top_examples(engine="ray")`` on a local Ray instance equals ``engine="local"`` exactly.

Runs where Ray is installed (CI's first backend installs the ``ray`` extra); one local
``ray.init(num_cpus=2)`` for the whole module, shut down at teardown.
"""

from __future__ import annotations

import os

import keras
import numpy as np
import pytest

import fmwidget

ray = pytest.importorskip("ray", reason="Ray is an optional extra: pip install 'fmwidget[ray]'")
pytestmark = pytest.mark.ray

L = keras.layers


@pytest.fixture(scope="module")
def local_ray():
    if ray.is_initialized():
        ray.shutdown()
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": {"KERAS_BACKEND": keras.backend.backend()}},
    )
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def model_and_data():
    keras.utils.set_random_seed(11)
    model = keras.Sequential(
        [
            keras.Input((10, 10, 1)),
            L.Conv2D(4, 3, padding="same", activation="relu", name="c1"),
            L.MaxPooling2D(2, name="p1"),
            L.Conv2D(6, 3, name="c2"),
        ],
        name="ray_cnn",
    )
    x = np.random.default_rng(11).normal(size=(90, 10, 10, 1)).astype("float32")
    return model, x


def assert_identical(a, b):
    assert a.layers == b.layers and a.k == b.k and a.num_samples == b.num_samples
    for name in a.layers:
        for what in ("values", "indices", "positions", "boxes"):
            np.testing.assert_array_equal(getattr(a, what)(name), getattr(b, what)(name))
    np.testing.assert_array_equal(a.sample_ids, b.sample_ids)
    for i in a.sample_ids[:5]:
        np.testing.assert_array_equal(a.sample(int(i)), b.sample(int(i)))


def test_ray_equals_local_on_arrays_and_iterables(local_ray, model_and_data):
    model, x = model_and_data
    local = fmwidget.top_examples(model, x, k=5, batch_size=16, progress=False)
    seen = []
    remote = fmwidget.top_examples(
        model,
        x,
        k=5,
        batch_size=16,
        engine="ray",
        progress=False,
        on_progress=lambda done, total: seen.append((done, total)),
        ray_options={"concurrency": 2},
    )
    assert_identical(local, remote)
    assert seen[-1] == (90, 90)
    batches = (x[i : i + 13] for i in range(0, 90, 13))  # uneven source batches
    again = fmwidget.top_examples(model, batches, k=5, batch_size=16, engine="ray", progress=False)
    assert_identical(local, again)


def test_ray_dataset_input_equals_local(local_ray, model_and_data):
    model, x = model_and_data
    ds = ray.data.from_numpy(x)
    local = fmwidget.top_examples(model, x, k=4, batch_size=16, progress=False)
    remote = fmwidget.top_examples(model, ds, k=4, batch_size=16, engine="ray", progress=False)
    assert_identical(local, remote)
    # The local engine reads a ray.data.Dataset too.
    assert_identical(local, fmwidget.top_examples(model, ds, k=4, batch_size=16, progress=False))
    assert os.environ.get("KERAS_BACKEND", keras.backend.backend()) == keras.backend.backend()
