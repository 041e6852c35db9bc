# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 4 · Your own model
#
# fmwidget works with any Keras 3 model with one image input: Sequential, Functional,
# nested or subclassed, on the JAX, TensorFlow or PyTorch backend. Here:
#
# 1. a model from `keras.applications` (MobileNetV2): with ImageNet weights when this
#    machine can download them, otherwise the same architecture with random weights;
# 2. how the maps change through a real architecture: smaller, deeper, seeing more;
# 3. `fmwidget.extract` for your own plots and numbers;
# 4. a small model of your own, with a skip connection.

# %%
import os
os.environ.setdefault("KERAS_BACKEND", "jax")  # CI sets KERAS_BACKEND=tensorflow; both work

import keras
import numpy as np

import fmwidget
import io

from IPython.display import Image, display
from PIL import Image as PILImage


def montage(tiles, scale=4, cols=8, pad=2, vmin=None, vmax=None):
    """Shows 2-D arrays side by side as one grey PNG (white = high).

    Each tile is stretched to its own min..max unless vmin/vmax fix a common range.
    """
    tiles = [np.asarray(t, dtype="float32") for t in tiles]
    h = max(t.shape[0] for t in tiles) * scale
    w = max(t.shape[1] for t in tiles) * scale
    rows = -(-len(tiles) // cols)
    sheet = np.full((rows * (h + pad) + pad, min(cols, len(tiles)) * (w + pad) + pad), 255, "uint8")
    for k, t in enumerate(tiles):
        lo = float(t.min()) if vmin is None else vmin
        hi = float(t.max()) if vmax is None else vmax
        img = np.zeros_like(t) if hi == lo else np.clip((t - lo) / (hi - lo), 0, 1)
        img = np.kron(img, np.ones((scale, scale)))
        r, c = divmod(k, cols)
        y, x = pad + r * (h + pad), pad + c * (w + pad)
        sheet[y : y + img.shape[0], x : x + img.shape[1]] = (img * 255).astype("uint8")
    buf = io.BytesIO()
    PILImage.fromarray(sheet).save(buf, format="PNG")
    display(Image(buf.getvalue()))
import socket
import threading

from skimage import data, transform


# %% [markdown]
# ## ImageNet weights, or a clear offline fallback
#
# Keras downloads pretrained weights from `storage.googleapis.com`. On a machine without
# internet that request can hang for a long time, so we first check, with a short
# timeout, whether the server is reachable at all; if not, we build the same
# architecture with `weights=None` (random filters) and say so.

# %%
def reachable(host="storage.googleapis.com", port=443, timeout=3.0):
    result = []

    def probe():
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            result.append(True)
        except OSError:
            pass

    t = threading.Thread(target=probe, daemon=True)  # also bounds a slow DNS lookup
    t.start()
    t.join(timeout + 1)
    return bool(result)


SIZE = 96
keras.utils.set_random_seed(0)  # the random weights of the offline fallback
kwargs = dict(input_shape=(SIZE, SIZE, 3), alpha=0.35)
pretrained = False
if reachable():
    try:
        model = keras.applications.MobileNetV2(weights="imagenet", **kwargs)
        pretrained = True
    except Exception as err:  # e.g. the download was cut off
        print(f"Could not load the ImageNet weights ({type(err).__name__}: {err}).")
if not pretrained:
    print("Offline: using MobileNetV2 with random weights (weights=None). The architecture,"
          " shapes and geometry are the real ones; the filters are not trained, so the maps"
          " show structure from the photo but no learned features.")
    model = keras.applications.MobileNetV2(weights=None, **kwargs)
print(f"{model.name}: {len(model.layers)} layers, {model.count_params():,} parameters,"
      f" {'ImageNet' if pretrained else 'random'} weights")

# %%
from keras.applications.mobilenet_v2 import decode_predictions, preprocess_input

photo = transform.resize(data.chelsea(), (SIZE, SIZE), anti_aliasing=True)  # a cat, 0..1
x = preprocess_input((photo * 255).astype("float32"))  # MobileNetV2 wants -1..1
fm = fmwidget.extract(model, x)
from collections import Counter

print(f"{len(fm.layers)} entries (print(fm) lists them all); kinds:",
      dict(Counter(info.kind for info in fm.layers)))
if pretrained:
    try:
        for _, label, p in decode_predictions(np.asarray(fm[fm.names[-1]]), top=3)[0]:
            print(f"  {label}: {p:.1%}")
    except Exception as err:  # the class names are another download
        print(f"(no class names: {err})")

# %% [markdown]
# ## Smaller, deeper, seeing more
#
# Walk through the convolutions: the strided ones halve the maps, the number of maps
# grows, and the receptive field of a central cell grows until one cell sees the whole
# 96×96 photo (the field is clipped to the image).

# %%
convs = [i for i in fm.layers if i.kind == "conv"]
fields = []
for info in convs[::4] + [convs[-1]]:
    h, w_, ch = info.shape
    rows, cols = fm.receptive_field(info.name, (h // 2, w_ // 2))
    fields.append(rows.stop - rows.start)
    print(f"{info.name:>22}: {h:2d}x{w_:2d} x {ch:4d} maps, a central cell sees "
          f"{rows.stop - rows.start}x{cols.stop - cols.start} pixels")
first, last = convs[0].shape, convs[-1].shape
assert last[0] < first[0] and last[2] > first[2]      # smaller and deeper
assert fields == sorted(fields) and fields[-1] == SIZE  # seeing more, finally everything

# %% [markdown]
# ## The widget on a big model
#
# 156 layers: pick one in the strip (convolutions, batch norms, ReLU6 activations, the
# `Add` of each residual block). `expanded_conv_project` is early, `block_6_project` is
# halfway; hover a cell to see how much of the cat it sees.

# %%
w = fmwidget.FeatureMapWidget(model, x, layer="Conv1_relu" if "Conv1_relu" in fm else None, view="grid")
w

# %% [markdown]
# ## `fmwidget.extract` for your own plots
#
# `fm[name]` is a plain numpy array, so any analysis is a few lines. Two examples: the
# 8 most active maps after the first convolution (highest mean activation), shown as
# images, and, after every ReLU6, the fraction of maps that are **silent** (zero
# everywhere) for this photo: a silent map's filter found nothing it responds to.

# %%
first = fm["Conv1_relu"][0]                    # (48, 48, 16)
order = np.argsort(first.mean(axis=(0, 1)))[::-1][:8]
print("Conv1_relu: the 8 maps with the highest mean activation:", order.tolist())
montage([first[..., k] for k in order], scale=2, cols=8)

rows = []
for info in fm.layers:
    if info.kind == "activation" and info.spatial:
        a = fm[info.name][0]
        dead = float((a.reshape(-1, a.shape[-1]).max(axis=0) <= 0).mean())
        rows.append((info.name, a.shape, dead))
for name, shape, dead in rows[::5]:
    print(f"{name:>24} {str(shape):>15}: {dead:5.1%} of the maps are silent")
assert first.shape == (48, 48, 16) and len(rows) == 35

# %% [markdown]
# ## A model of your own
#
# Anything goes: here a small Functional model with a **skip connection** (`Add`) and
# a `Conv2D` with stride 2. fmwidget follows the graph, so receptive fields are exact
# through both branches: the `add` cell sees the union of what each branch sees.

# %%
L = keras.layers
keras.utils.set_random_seed(1)
inp = keras.Input((SIZE, SIZE, 3), name="image")
stem = L.Conv2D(8, 3, strides=2, padding="same", activation="relu", name="stem")(inp)
branch = L.Conv2D(8, 3, padding="same", activation="relu", name="branch_a")(stem)
branch = L.Conv2D(8, 3, padding="same", name="branch_b")(branch)
merged = L.Add(name="add")([stem, branch])
pooled = L.MaxPooling2D(2, name="pool")(L.ReLU(name="relu")(merged))
mine = keras.Model(inp, pooled, name="my_resnet_block")

fm_mine = fmwidget.extract(mine, photo.astype("float32"))
for name in ["stem", "branch_b", "add", "pool"]:
    print(f"{name:>9}: {fm_mine[name].shape[1:]}, receptive field of cell (10, 10):",
          fm_mine.receptive_field(name, (10, 10)))
# the skip path sees 3x3 pixels; the branch path 11x11; the sum sees the union
assert fm_mine.receptive_field("add", (10, 10)) == fm_mine.receptive_field("branch_b", (10, 10))
fmwidget.FeatureMapWidget(mine, photo.astype("float32"), layer="add", view="grid")

# %% [markdown]
# **Takeaways.** The same ideas scale to real architectures: maps shrink, depth grows,
# each cell sees more of the image until it sees all of it. Use the widget to explore and
# `fmwidget.extract` for numbers and plots of your own.
