"""Every map fmwidget extracts equals what Keras computes for that layer, by another path."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from helpers import L, small_cnn, submodel_outputs

import fmwidget

BACKEND = keras.backend.backend()


def close(a, b):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def test_functional_every_map_matches_submodels():
    model = small_cnn()
    x = np.random.rand(2, 16, 16, 3).astype("float32")
    fm = fmwidget.extract(model, x)
    expected = submodel_outputs(model, x)
    assert [info.name for info in fm.layers] == ["input", *expected]
    for name, value in expected.items():
        close(fm[name], value)
    close(fm["input"], x)
    kinds = {info.name: info.kind for info in fm.layers}
    assert kinds == {
        "input": "input",
        "conv1": "conv",
        "pool1": "pooling",
        "conv2": "conv",
        "bn": "batch_norm",
        "relu2": "activation",
        "pool2": "pooling",
        "gpool": "global_pooling",
        "head": "other",
    }
    conv2 = fm.info("conv2")
    assert conv2.shape == (6, 4, 8) and conv2.spatial_shape == (6, 4) and conv2.channels == 8
    assert conv2.inputs == ("pool1",) and conv2.config["kernel_size"] == (3, 2)
    assert fm.info("gpool").spatial_shape is None


def test_one_sample_gets_batch_axis_and_tensor_input_works():
    model = small_cnn()
    x = np.random.rand(16, 16, 3).astype("float32")
    fm = fmwidget.extract(model, keras.ops.convert_to_tensor(x))
    assert fm["conv1"].shape == (1, 16, 16, 6)
    close(fm["conv1"], submodel_outputs(model, x[None])["conv1"])


def test_fused_activation_pre_activation_matches_keras_ops():
    model = small_cnn()
    x = np.random.rand(1, 16, 16, 3).astype("float32")
    fm = fmwidget.extract(model, x)
    conv = model.get_layer("conv1")
    expected = keras.ops.conv(x, conv.kernel, strides=1, padding="same") + conv.bias
    pre = fm.pre_activation("conv1")
    close(pre, keras.ops.convert_to_numpy(expected))
    assert pre.min() < 0  # something for ReLU to clip
    close(fm["conv1"], np.maximum(pre, 0))
    assert fm.info("conv1").fused_activation == "relu"
    assert conv.activation is keras.activations.relu  # restored after the recompute
    with pytest.raises(ValueError, match="fused activation"):
        fm.pre_activation("conv2")


def _sequential_layers():
    return [
        L.Conv2D(4, 3, activation="relu", name="c1"),
        L.ZeroPadding2D(((1, 2), (0, 1)), name="pad"),
        L.DepthwiseConv2D(3, strides=2, name="dw"),
        L.SeparableConv2D(5, 3, padding="same", name="sep"),
        L.LeakyReLU(name="leaky"),
        L.Dropout(0.5, name="drop"),
        L.Cropping2D(((1, 0), (0, 1)), name="crop"),
        L.Conv2DTranspose(3, 3, strides=2, padding="same", name="tconv"),
        L.UpSampling2D(2, name="up"),
        L.Flatten(name="flat"),
    ]


@pytest.mark.parametrize("with_input", [True, False])
def test_sequential_with_and_without_input(with_input):
    layers = _sequential_layers()
    model = keras.Sequential(([keras.Input((14, 14, 2))] if with_input else []) + layers)
    x = np.random.rand(2, 14, 14, 2).astype("float32")
    fm = fmwidget.extract(model, x)
    y = x
    for layer in layers:  # independent path: apply each layer by hand
        y = layer(y, training=False)
        close(fm[layer.name], keras.ops.convert_to_numpy(y))
    kinds = [fm.info(layer.name).kind for layer in layers]
    assert kinds == [
        "conv",
        "padding",
        "depthwise_conv",
        "separable_conv",
        "activation",
        "dropout",
        "cropping",
        "conv_transpose",
        "other",
        "other",
    ]


def test_unbuilt_sequential_one_sample_is_batched_from_first_layer_rank():
    model = keras.Sequential([L.Conv2D(3, 3, name="c"), L.MaxPooling2D(name="p")])
    fm = fmwidget.extract(model, np.random.rand(10, 10, 1).astype("float32"))
    assert fm["c"].shape == (1, 8, 8, 3) and fm["p"].shape == (1, 4, 4, 3)


def test_nested_models_get_path_names_and_shared_layers_one_entry_per_call():
    inner = keras.Sequential(
        [keras.Input((12, 12, 3)), L.Conv2D(4, 3, name="conv"), L.ReLU(name="relu")],
        name="block1",
    )
    shared = L.Conv2D(4, 1, name="shared")
    inp = keras.Input((12, 12, 3))
    a = inner(inp)
    b = shared(a)
    c = shared(b)
    merged = L.Add(name="add")([b, c])
    cat = L.Concatenate(name="cat")([merged, a])
    out = L.MaxPooling2D(name="pool")(cat)
    model = keras.Model(inp, out)
    x = np.random.rand(1, 12, 12, 3).astype("float32")
    fm = fmwidget.extract(model, x)
    assert fm.names == [
        "input",
        "block1/conv",
        "block1/relu",
        "shared",
        "shared:1",
        "add",
        "cat",
        "pool",
    ]
    a_ = inner(x)
    b_ = shared(a_)
    c_ = shared(b_)
    close(fm["block1/conv"], keras.ops.convert_to_numpy(inner.layers[0](x)))
    close(fm["block1/relu"], keras.ops.convert_to_numpy(a_))
    close(fm["shared"], keras.ops.convert_to_numpy(b_))
    close(fm["shared:1"], keras.ops.convert_to_numpy(c_))
    close(fm["add"], keras.ops.convert_to_numpy(b_ + c_))
    assert fm.info("block1/conv").inputs == ("input",)
    assert fm.info("shared:1").inputs == ("shared",)
    assert fm.info("add").inputs == ("shared", "shared:1")
    assert fm.info("cat").inputs == ("add", "block1/relu")
    assert fm.info("pool").kind == "pooling"


class TinyNet(keras.Model):
    """A subclassed model: no functional graph at all."""

    def __init__(self):
        super().__init__(name="tiny")
        self.conv = L.Conv2D(4, 3, padding="same", name="conv")
        self.act = L.Activation("relu", name="act")
        self.pool = L.MaxPooling2D(2, name="pool")
        self.head = L.Dense(3, name="head")

    def call(self, x):
        y = self.pool(self.act(self.conv(x)))
        return self.head(keras.ops.mean(y, axis=(1, 2)))


def test_subclassed_model_without_graph():
    model = TinyNet()
    x = np.random.rand(2, 8, 8, 3).astype("float32")
    fm = fmwidget.extract(model, x)
    assert fm.names == ["input", "conv", "act", "pool", "head"]
    conv = keras.ops.convert_to_numpy(model.conv(x))
    close(fm["conv"], conv)
    close(fm["act"], np.maximum(conv, 0))
    close(fm["pool"], keras.ops.convert_to_numpy(model.pool(np.maximum(conv, 0))))
    # The head reads a tensor made outside any layer (keras.ops.mean): it is unlinked.
    assert fm.info("head").inputs == ()
    with pytest.raises(fmwidget.GeometryError, match="head"):
        fm.receptive_field("head", ())
    assert fm.receptive_field("pool", (1, 1)) == (slice(1, 5), slice(1, 5))


def test_conv1d_and_pooling1d():
    inp = keras.Input((20, 2))
    x = L.Conv1D(3, 5, dilation_rate=2, padding="same", name="c")(inp)
    x = L.MaxPooling1D(3, strides=2, name="p")(x)
    model = keras.Model(inp, x)
    data = np.random.rand(1, 20, 2).astype("float32")
    fm = fmwidget.extract(model, data)
    close(fm["p"], keras.ops.convert_to_numpy(model(data)))
    assert fm.info("c").spatial_shape == (20,) and fm.info("c").channels == 3
    assert fm.receptive_field("c", (0,)) == (slice(0, 5),)  # taps -4..4 step 2, clipped


@pytest.mark.skipif(
    BACKEND == "tensorflow",
    reason="TensorFlow's CPU kernels do not implement channels_first Conv2D",
)
def test_channels_first_maps_match_submodels():
    model = small_cnn("channels_first")
    x = np.random.rand(1, 3, 16, 16).astype("float32")
    fm = fmwidget.extract(model, x)
    for name, value in submodel_outputs(model, x).items():
        close(fm[name], value)
    info = fm.info("conv1")
    assert info.data_format == "channels_first"
    assert info.spatial_shape == (16, 16) and info.channels == 6
    assert fm.layers[0].spatial_shape == (16, 16)
