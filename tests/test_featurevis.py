"""Feature visualisation finds the pattern a hand-set filter detects, deterministically."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from helpers import L

import fmwidget
from fmwidget.featurevis import FilterVisualization


def edge_model():
    """Two hand-set 5x5 filters on a grey image: channel 0 vertical edges, 1 horizontal."""
    inp = keras.Input((32, 32, 1))
    conv = L.Conv2D(2, 5, activation="relu", use_bias=False, name="edges")
    model = keras.Model(inp, conv(inp), name="edges")
    vertical = np.tile(np.array([-1, -2, 0, 2, 1], "float32"), (5, 1))  # d/dx, the same rows
    kernel = np.stack([vertical, vertical.T], axis=-1)[:, :, None, :]
    conv.set_weights([kernel])
    return model


def edge_energy(image: np.ndarray) -> tuple[float, float]:
    """(energy of left-right changes, energy of up-down changes) of a (H, W, 1) image."""
    img = image[..., 0].astype(np.float64)
    return float((np.diff(img, axis=1) ** 2).sum()), float((np.diff(img, axis=0) ** 2).sum())


def test_edge_filters_get_edges_of_their_orientation_and_fire_10x_more():
    model = edge_model()
    steps = []
    vertical, horizontal = fmwidget.visualize_filter(
        model, "edges", [0, 1], steps=128, on_step=lambda d, t: steps.append((d, t))
    )
    assert steps == [(k, 128) for k in range(1, 129)]
    for vis in (vertical, horizontal):
        assert isinstance(vis, FilterVisualization)
        assert vis.image.shape == (32, 32, 1) and vis.image.dtype == np.float32
        assert vis.image.min() >= 0 and vis.image.max() <= 1
        assert vis.start_activation > 0
        assert vis.activation >= 10 * vis.start_activation, (vis.activation, vis.start_activation)
    across, along = edge_energy(vertical.image)
    assert across > 1.5 * along, (across, along)  # vertical edges: changes from left to right
    across, along = edge_energy(horizontal.image)
    assert along > 1.5 * across, (across, along)
    # The reported activation is what Keras computes for the returned image.
    out = keras.ops.convert_to_numpy(model(vertical.model_input))
    assert out[..., 0].mean() == pytest.approx(vertical.activation, rel=1e-4)
    np.testing.assert_array_equal(np.asarray(vertical), vertical.image)


def test_deterministic_per_seed_cached_and_batch_independent():
    model = edge_model()
    one = fmwidget.visualize_filter(model, "edges", 1, steps=8, seed=3, cache=False, progress=False)
    again = fmwidget.visualize_filter(model, "edges", 1, steps=8, seed=3, cache=False)
    np.testing.assert_allclose(again.image, one.image, atol=1e-6)
    other = fmwidget.visualize_filter(model, "edges", 1, steps=8, seed=4, cache=False)
    assert np.abs(other.image - one.image).max() > 1e-2
    batch = fmwidget.visualize_filter(model, "edges", [0, 1], steps=8, seed=3, cache=False)
    np.testing.assert_allclose(batch[1].image, one.image, atol=1e-5)  # alone or together
    cached = fmwidget.visualize_filter(model, "edges", 1, steps=8, seed=3)
    assert fmwidget.visualize_filter(model, "edges", 1, steps=8, seed=3) is cached
    conv = model.get_layer("edges")
    conv.set_weights([conv.get_weights()[0] * 2])  # new weights: the cache is stale
    assert fmwidget.visualize_filter(model, "edges", 1, steps=8, seed=3) is not cached


def test_free_size_models_colour_and_value_range():
    inp = keras.Input((None, None, 3))
    x = L.Conv2D(4, 3, activation="relu", name="c1")(inp)
    x = L.Conv2D(4, 3, strides=2, name="c2")(x)
    model = keras.Model(inp, L.GlobalAveragePooling2D()(x))
    vis = fmwidget.visualize_filter(
        model, "c2", 2, steps=4, size=(24, 40), value_range=(-1, 1), progress=False
    )
    assert vis.image.shape == (24, 40, 3) and vis.model_input.shape == (1, 24, 40, 3)
    np.testing.assert_allclose(vis.model_input[0], vis.image * 2 - 1, atol=1e-6)
    default = fmwidget.visualize_filter(model, "c1", 0, steps=1, progress=False)
    assert default.image.shape == (128, 128, 3)  # free input size: 128 x 128


def sine_model():
    """A Conv1D over 64 time steps: filter 0 is a sine of period 8, filter 1 of period 4."""
    inp = keras.Input((64, 1))
    conv = L.Conv1D(2, 16, activation="relu", use_bias=False, name="tones")
    model = keras.Model(inp, conv(inp), name="tones")
    t = np.arange(16, dtype="float32")
    kernel = np.stack([np.sin(2 * np.pi * t / 8), np.sin(2 * np.pi * t / 4)], axis=-1)
    conv.set_weights([kernel[:, None, :]])
    return model


def test_time_series_filters_get_their_own_frequency():
    """Each filter's input oscillates at its own period and excites it more than the other."""
    model = sine_model()
    vis = fmwidget.visualize_filter(model, "tones", [0, 1], steps=96, progress=False)

    def band(series: np.ndarray, period: int) -> float:
        """Power within 2 frequency bins of 64 / period cycles over the 64 steps."""
        power = np.abs(np.fft.rfft(series - series.mean())) ** 2
        return float(power[64 // period - 2 : 64 // period + 3].sum())

    for own, other in ((0, 1), (1, 0)):
        v, periods = vis[own], (8, 4)
        assert v.image.shape == (64, 1) and v.model_input.shape == (1, 64, 1)
        assert v.activation >= 10 * v.start_activation, (v.activation, v.start_activation)
        series = v.image[:, 0].astype(np.float64)
        assert band(series, periods[own]) > 3 * band(series, periods[other])
        out = keras.ops.convert_to_numpy(model(v.model_input))[0].mean(axis=0)
        assert out[own] == pytest.approx(v.activation, rel=1e-4)
        assert out[own] > 1.5 * out[other], out


def test_volume_filters_get_changes_along_their_axis():
    """Conv3D: filter 0 answers changes along depth, filter 1 along width."""
    inp = keras.Input((12, 12, 12, 1))
    conv = L.Conv3D(2, 3, activation="relu", use_bias=False, name="edges3d")
    model = keras.Model(inp, conv(inp), name="vol")
    step = np.zeros((3, 3, 3), "float32")
    step[0], step[2] = -1, 1  # d/d(depth)
    conv.set_weights([np.stack([step, step.transpose(2, 1, 0)], axis=-1)[:, :, :, None, :]])
    along_depth, along_width = fmwidget.visualize_filter(
        model, "edges3d", [0, 1], steps=64, size=12, progress=False
    )

    def energy(vol: np.ndarray, axis: int) -> float:
        return float((np.diff(vol[..., 0].astype(np.float64), axis=axis) ** 2).sum())

    assert along_depth.image.shape == (12, 12, 12, 1)
    assert energy(along_depth.image, 0) > 1.5 * energy(along_depth.image, 2)
    assert energy(along_width.image, 2) > 1.5 * energy(along_width.image, 0)
    for vis in (along_depth, along_width):
        assert vis.activation >= 10 * vis.start_activation, (vis.activation, vis.start_activation)
    with pytest.raises(ValueError, match=r"Expected size an int or \(depth, height, width\)"):
        fmwidget.visualize_filter(model, "edges3d", 0, steps=1, size=(12, 12))


def test_errors():
    model = edge_model()
    with pytest.raises(ValueError, match=r"channel in range\(0, 2\), received 2"):
        fmwidget.visualize_filter(model, "edges", 2, steps=1)
    with pytest.raises(ValueError, match=r"Expected size \(32, 32\) .* fixed"):
        fmwidget.visualize_filter(model, "edges", 0, steps=1, size=64)
    with pytest.raises(ValueError, match=r"received 'edge'\. Did you mean"):
        fmwidget.visualize_filter(model, "edge", 0, steps=1)
    with pytest.raises(ValueError, match=r"low < high"):
        fmwidget.visualize_filter(model, "edges", 0, steps=1, value_range=(1, 0))
    with pytest.raises(ValueError, match=r"inside the model, received 'input'"):
        fmwidget.visualize_filter(model, "input", 0, steps=1)
    flat = keras.Sequential([keras.Input((5,)), L.Dense(2)])
    with pytest.raises(ValueError, match=r"known input of shape .* received"):
        fmwidget.visualize_filter(flat, "dense", 0, steps=1)


def test_resampling_matrices_shift_zoom_and_leave_grey_outside():
    from fmwidget.lucid import resample

    np.testing.assert_array_equal(resample(6, 1.0, 0.0), np.eye(6))
    shifted = resample(6, 1.0, 2.0)  # output i reads input i + 2; the last two read outside
    np.testing.assert_array_equal(shifted[:4], np.eye(6)[2:])
    assert not shifted[4:].any()
    half = resample(5, 1.0, 0.5)
    np.testing.assert_allclose(half[0, :2], [0.5, 0.5])
    zoom = resample(9, 2.0, 0.0)  # zoom in 2x about the centre (4): output 0 reads input 2
    np.testing.assert_allclose(zoom[0, 2], 1.0)
    np.testing.assert_allclose(zoom.sum(axis=1), 1.0)
