"""Every keras.applications model that builds offline is traceable end to end.

Random weights (``weights=None``), the smallest input each model takes. Every spatial
entry must have a receptive field: on every backend for the three models that exercise
the newest geometry (raw ops, gates, normalization), for all twelve in the ``slow`` sweep
(CI runs it on its first backend). The slow sweep also checks the fields against
perturbation ground truth that does not use fmwidget's geometry: moving a pixel outside a
cell's field never changes the cell, and every pixel that does change it lies inside.
"""

from __future__ import annotations

import functools

import keras
import numpy as np
import pytest
from truth import check_against_truth, perturbation_fields, probe_pixels

import fmwidget
from fmwidget.geometry import NotSeparableError

# name -> smallest input side it accepts with include_top=False
MODELS = {
    "VGG16": 32,
    "ResNet50": 32,
    "MobileNetV2": 32,
    "MobileNetV3Small": 32,
    "MobileNetV3Large": 32,
    "EfficientNetB0": 32,
    "EfficientNetV2B0": 32,
    "DenseNet121": 32,
    "InceptionV3": 75,
    "Xception": 71,
    "ConvNeXtTiny": 32,
    "NASNetMobile": 32,
}


#: Run on every backend: ConvNeXt (raw `a + b` residuals, LayerNormalization, custom
#: LayerScale), MobileNetV3 (hard-swish as raw ops, keepdims gates), EfficientNet
#: (Reshape'd squeeze-excite gates, preprocessing Normalization).
EVERY_BACKEND = ("ConvNeXtTiny", "MobileNetV3Small", "EfficientNetB0")


def _params():
    return [pytest.param(n, marks=() if n in EVERY_BACKEND else pytest.mark.slow) for n in MODELS]


@functools.cache
def _model(name: str) -> keras.Model:
    size = MODELS[name]
    return getattr(keras.applications, name)(
        weights=None, include_top=False, input_shape=(size, size, 3)
    )


def _image(name: str) -> np.ndarray:
    size = MODELS[name]
    return np.random.default_rng(0).uniform(0, 255, (size, size, 3)).astype("float32")


def _cell_is_constant(model, name: str, cell: tuple[int, ...]) -> bool:
    """Whether Keras gives the cell the same values for very different inputs."""
    sub = keras.Model(model.inputs, model.get_layer(name).output)
    rng = np.random.default_rng(2)
    shape = (3, *model.inputs[0].shape[1:])
    values = keras.ops.convert_to_numpy(sub(rng.uniform(0, 255, shape).astype("float32")))
    at = values[(slice(None), *cell)]
    return bool(np.all(at == at[:1]))


@pytest.mark.parametrize("name", _params())
def test_every_spatial_entry_has_a_receptive_field(name):
    model = _model(name)
    fm = fmwidget.extract(model, _image(name))
    spatial = [info for info in fm.layers[1:] if info.spatial]
    assert spatial
    for info in spatial:
        try:
            tables = fm.receptive_field_table(info.name)
        except NotSeparableError:
            tables = None
        middle = tuple(n // 2 for n in info.spatial_shape)  # corners may be zero padding
        box = fm.receptive_field(info.name, middle)
        if not all(s.stop > s.start for s in box):
            # Only a cell that reads nothing but padding may have an empty field (NASNet
            # pads bottom-right then crops top-left: a 2x2 map's last cell is padding).
            assert _cell_is_constant(model, info.name, middle), (info.name, box)
        if tables is not None:
            assert box == tuple(slice(*t[p]) for t, p in zip(tables, middle, strict=True))
    if name == "ConvNeXtTiny":  # its residuals are raw `a + b` ops
        assert sum(info.is_op for info in fm.layers) >= 18


@pytest.mark.slow
@pytest.mark.parametrize("name", MODELS)
def test_fields_against_perturbation_truth(name):
    model = _model(name)
    x = _image(name)
    fm = fmwidget.extract(model, x)
    names = [info.name for info in fm.layers[1:] if info.spatial]
    pixels = probe_pixels(x.shape[:2], 40)
    fields = perturbation_fields(model, x, names, pixels, delta=64.0, chunk=48)
    check_against_truth(fm, fields, pixels, equal=False, exact_cells=2)
    moved = sum(int(f.any()) for f in fields.values())
    assert moved >= len(names) // 2  # the probes did reach most layers
