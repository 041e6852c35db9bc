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
# # 5 · What does a filter detect? Its top examples over a whole dataset
#
# Notebook 3 looked inside a trained digit CNN one input at a time. Here we ask the question
# the other way round: **for each filter, which pieces of which digits, out of all 1797,
# excite it most?** `fmwidget.top_examples` streams the dataset through the model once,
# keeps each filter's best `k` samples (and the exact cell where the filter fired), and
# crops each winner's **receptive field**: the patch of the digit that the filter saw.
#
# What we will check, with numbers:
#
# * the first convolution sees 3×3 pixels: its best examples are **pieces of stroke**, found
#   in every kind of digit;
# * the second convolution sees 8×8 pixels: its best examples are **parts of digits**
#   (a loop, a corner, a bar) and they come from fewer kinds of digit;
# * every number `top_examples` reports is exactly what the model computes for that sample.

# %%
import os

os.environ.setdefault("KERAS_BACKEND", "jax")  # CI sets KERAS_BACKEND=tensorflow; both work

import io
import tempfile
import time

import keras
import numpy as np
from IPython.display import Image, display
from PIL import Image as PILImage
from sklearn.datasets import load_digits

import fmwidget


def montage(tiles, scale=4, cols=9, pad=2, vmin=0.0, vmax=1.0):
    """Shows 2-D arrays side by side as one grey PNG (white = ink)."""
    tiles = [np.asarray(t, dtype="float32") for t in tiles]
    h = max(t.shape[0] for t in tiles) * scale
    w = max(t.shape[1] for t in tiles) * scale
    rows = -(-len(tiles) // cols)
    sheet = np.full((rows * (h + pad) + pad, min(cols, len(tiles)) * (w + pad) + pad), 255, "uint8")
    for k, t in enumerate(tiles):
        img = np.clip((t - vmin) / (vmax - vmin), 0, 1)
        img = np.kron(img, np.ones((scale, scale)))
        r, c = divmod(k, cols)
        y, x = pad + r * (h + pad), pad + c * (w + pad)
        sheet[y : y + img.shape[0], x : x + img.shape[1]] = (img * 255).astype("uint8")
    buf = io.BytesIO()
    PILImage.fromarray(sheet).save(buf, format="PNG")
    display(Image(buf.getvalue()))


# %% [markdown]
# ## The network of notebook 3
#
# The same small CNN, trained the same way on 1500 digits (8×8 pixels enlarged 3× to 24×24).

# %%
keras.utils.set_random_seed(0)
digits = load_digits()
images = np.kron(digits.images / 16.0, np.ones((3, 3)))[..., None].astype("float32")
labels = digits.target
L = keras.layers
model = keras.Sequential(
    [
        keras.Input((24, 24, 1)),
        L.Conv2D(8, 3, padding="same", activation="relu", name="conv1"),
        L.MaxPooling2D(2, name="pool1"),
        L.Conv2D(16, 3, padding="same", activation="relu", name="conv2"),
        L.MaxPooling2D(2, name="pool2"),
        L.Flatten(name="flatten"),
        L.Dense(10, activation="softmax", name="classifier"),
    ],
    name="digits_cnn",
)
model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
model.fit(images[:1500], labels[:1500], epochs=15, batch_size=32, verbose=0)
_, acc = model.evaluate(images[1500:], labels[1500:], verbose=0)
print(f"accuracy on {len(labels) - 1500} unseen digits: {acc:.3f}")
assert acc > 0.85

# %% [markdown]
# ## Top examples of every filter
#
# One call scans all 1797 digits. The result says, per layer, per filter, the `k` best
# samples (`indices`), how strongly the filter fired (`values`: the largest value of its
# map for that sample) and where (`positions`: the cell of that largest value).

# %%
start = time.perf_counter()
ex = fmwidget.top_examples(model, images, k=9, batch_size=128)
print(f"scanned {ex.num_samples} digits in {time.perf_counter() - start:.1f} s")
print(ex)
assert ex.layers == ["conv1", "pool1", "conv2", "pool2"]
assert ex.values("conv2").shape == (16, 9) and ex.positions("conv2").shape == (16, 9, 2)

# %% [markdown]
# ## First layer: pieces of stroke
#
# Each row is one `conv1` filter; its 9 best patches, best first. A `conv1` cell sees
# 3×3 pixels, so that is what each patch is (patches at the border of the image are
# clipped by the padding and can be smaller).

# %%
tiles = [p[..., 0] for f in range(8) for p in ex.patches("conv1", f)]
montage(tiles, scale=10)
sizes1 = {p.shape[:2] for f in range(8) for p in ex.patches("conv1", f)}
ink1 = np.mean([p.mean() for f in range(8) for p in ex.patches("conv1", f)])
print("patch sizes:", sizes1, f"- mean ink in the patches: {ink1:.2f}")
assert sizes1 <= {(3, 3), (2, 3), (3, 2), (2, 2)} and (3, 3) in sizes1
assert ink1 > 0.4  # first-layer filters fire on ink: strokes and their edges

# %% [markdown]
# ## Second layer: parts of digits
#
# A `conv2` cell sees 8×8 pixels: a third of a digit. Its best patches have a shape
# (ink and paper arranged as a curve, a corner, the end of a stroke).

# %%
tiles = [p[..., 0] for f in range(16) for p in ex.patches("conv2", f)]
montage(tiles, scale=4)
sizes2 = {p.shape[:2] for f in range(16) for p in ex.patches("conv2", f)}
print("largest conv2 patch:", max(sizes2))
assert max(sizes2) == (8, 8)


def mixes_ink_and_paper(p):
    return p.max() > 0.5 and p.min() < 0.25


shaped = np.mean([mixes_ink_and_paper(p) for f in range(16) for p in ex.patches("conv2", f)])
print(f"{shaped:.0%} of the conv2 patches mix ink and paper into a shape")
assert shaped > 0.6

# %% [markdown]
# ## Strokes are shared, parts are specific
#
# A stroke appears in every kind of digit; a part (the loop of a 6, the bar of a 7) only
# in some. So the top examples of a later filter should come from **fewer digit classes**.
# For each filter we count how many of its 9 best samples share the most common label.

# %%
def purity(layer):
    out = []
    for f in range(ex.channels(layer)):
        counts = np.bincount(labels[ex.indices(layer)[f]], minlength=10)
        out.append(counts.max() / counts.sum())
    return float(np.mean(out))


for layer in ex.layers:
    print(f"{layer}: on average {purity(layer):.0%} of a filter's 9 best digits share one label")
assert purity("conv2") > purity("conv1") + 0.15
assert purity("pool2") > purity("conv1") + 0.15

# %% [markdown]
# ## Exact, not approximate
#
# Each value is the filter's largest response for that digit, at the cell reported, and
# the patch is exactly that cell's receptive field. Check a few against `extract`:

# %%
for layer in ("conv1", "conv2", "pool2"):
    for f in (0, 5):
        i, (r, c) = int(ex.indices(layer)[f, 0]), ex.positions(layer)[f, 0]
        fm = fmwidget.extract(model, images[i])
        fmap = fm[layer][0, ..., f]
        rows, cols = fm.receptive_field(layer, (int(r), int(c)))
        assert np.isclose(ex.values(layer)[f, 0], fmap[r, c], rtol=1e-5, atol=1e-6)
        assert np.isclose(fmap.max(), fmap[r, c], rtol=1e-5, atol=1e-6)
        assert np.array_equal(ex.patches(layer, f)[0], images[i][rows, cols])
print("values, positions and patches match extract()")

# %% [markdown]
# ## Keep them, and browse them in the widget
#
# `save` writes one portable `.npz` file (no pickle); `TopExamples.load` reads it back
# without the model or the data. The widget takes them too (`examples=`): click a map
# below to open its filter card, the top patches of that filter next to this input's map.

# %%
with tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, "digits_top_examples.npz")
    ex.save(path)
    back = fmwidget.TopExamples.load(path)
    print(f"{os.path.getsize(path) / 1e3:.0f} kB on disk")
assert np.array_equal(back.indices("conv2"), ex.indices("conv2"))

w = fmwidget.FeatureMapWidget(
    model, images[1500], layer="conv2", view="grid", examples=ex
)
assert set(w.examples_summary["layers"]) == set(ex.layers)
w

# %% [markdown]
# ## Takeaways
#
# * `top_examples` answers "what does this filter detect?" over a whole dataset, exactly,
#   in one streamed pass (memory does not grow with the dataset; `engine="ray"` spreads it
#   over a Ray cluster).
# * Early filters detect pieces of stroke that every digit has; later filters, seeing more,
#   detect parts that only some digits have: the hierarchy from notebook 3, now measured.
# * Try it on your own model: `fmwidget.top_examples(model, dataset)`; a `tf.data.Dataset`,
#   a `PyDataset` or a torch `DataLoader` work as they are.
