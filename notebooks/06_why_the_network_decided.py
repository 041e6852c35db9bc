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
# # 6 · Why the network decided
#
# Feature maps show *what* a network computes. Gradients tell *why* it decided: how much the
# class score would move if a part of the input, or of a layer, changed a little. Four
# lenses, each a single backward pass (on JAX, TensorFlow or PyTorch alike):
#
# | question | tool |
# |---|---|
# | where in the image is the evidence for this class? | `fmwidget.grad_cam` (Grad-CAM, HiResCAM) |
# | which pixels would change the score most? | `fmwidget.saliency` (gradient, SmoothGrad, input × gradient) |
# | what pattern does this filter look for? | `fmwidget.visualize_filter` |
# | which pixels of its receptive field does a cell really use? | `fm.effective_receptive_field` |
#
# We use the digits CNN of notebook 3, then a real architecture from `keras.applications`.
# Every claim below is checked by an `assert` next to it.

# %%
import os

os.environ.setdefault("KERAS_BACKEND", "jax")  # CI sets KERAS_BACKEND=tensorflow; all work

import io
import time

import keras
import numpy as np
from IPython.display import Image, display
from PIL import Image as PILImage
from sklearn.datasets import load_digits

import fmwidget


def montage(tiles, scale=4, cols=8, pad=2):
    """Shows 2-D arrays (or H x W x 3 images in [0, 1]) side by side; each grey tile is
    stretched to its own min..max (white = high)."""
    tiles = [np.asarray(t, dtype="float32") for t in tiles]
    tiles = [t if t.ndim == 3 else np.repeat(t[..., None], 3, -1) for t in tiles]
    h = max(t.shape[0] for t in tiles) * scale
    w = max(t.shape[1] for t in tiles) * scale
    rows = -(-len(tiles) // cols)
    sheet = np.full((rows * (h + pad) + pad, min(cols, len(tiles)) * (w + pad) + pad, 3), 255, "uint8")
    for k, t in enumerate(tiles):
        lo, hi = float(t.min()), float(t.max())
        img = np.zeros_like(t) if hi == lo else (t - lo) / (hi - lo)
        img = np.kron(img, np.ones((scale, scale, 1)))
        r, c = divmod(k, cols)
        y, x = pad + r * (h + pad), pad + c * (w + pad)
        sheet[y : y + img.shape[0], x : x + img.shape[1]] = (img * 255).astype("uint8")
    buf = io.BytesIO()
    PILImage.fromarray(sheet).save(buf, format="PNG")
    display(Image(buf.getvalue()))


# %% [markdown]
# ## The digits CNN of notebook 3
#
# 1797 real handwritten digits ship with scikit-learn; we enlarge them to 24×24 and train the
# same small CNN as in notebook 3 for a few seconds.

# %%
keras.utils.set_random_seed(0)
digits = load_digits()
images = np.kron(digits.images / 16.0, np.ones((3, 3)))[..., None].astype("float32")
labels = digits.target
train, test = slice(0, 1500), slice(1500, None)

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
start = time.perf_counter()
model.fit(images[train], labels[train], epochs=10, batch_size=32, verbose=0)
_, acc = model.evaluate(images[test], labels[test], verbose=0)
print(f"trained in {time.perf_counter() - start:.1f} s; test accuracy {acc:.3f}")
assert acc > 0.85

# %% [markdown]
# ## Grad-CAM, and why it can come out empty
#
# Grad-CAM looks at one layer (by default the last convolution before the head, here
# `conv2`): each of its channels gets a weight, the *average* gradient of the class score
# over the map, and the map is `ReLU(sum of weight × channel)`, resized to the input.
# The class score is the logit *before* the softmax (as in the Grad-CAM paper).
#
# HiResCAM (`method="hires_cam"`) keeps each cell's own gradient instead of the average.
# Behind a `Flatten` + `Dense` head, as here, the cells' terms add up exactly to the score;
# averaging throws that away, and the averaged weights can be negative for every cell.

# %%
xs = images[test][:100]
probs = keras.ops.convert_to_numpy(model(xs))
top = probs.argmax(axis=1)
cams = fmwidget.grad_cam(model, xs)  # a batch: one map per digit, each for its top class
hires = fmwidget.grad_cam(model, xs, method="hires_cam")
empty_cam = int((cams.reshape(100, -1).max(axis=1) == 0).sum())
empty_hires = int((hires.reshape(100, -1).max(axis=1) == 0).sum())
ink = xs[..., 0] > 0.2
on_ink = float((hires * ink).sum() / hires.sum())
print(f"empty maps out of 100 digits: Grad-CAM {empty_cam}, HiResCAM {empty_hires}")
print(f"HiResCAM puts {on_ink:.0%} of its weight on the ink, which covers {ink.mean():.0%} of the pixels")
assert cams.shape == (100, 24, 24) and 0 <= cams.min() and cams.max() <= 1
assert empty_hires == 0 and empty_cam > empty_hires
assert on_ink > ink.mean() + 0.15
montage([xs[k, ..., 0] for k in range(4)] + [hires[k] for k in range(4)], cols=4)

# %% [markdown]
# Top row: four test digits. Bottom row: HiResCAM for the predicted class, white where the
# evidence is. Is the map *faithful*, i.e. does the network really rely on those pixels?
# A simple test: blank the 40 pixels a map ranks highest (7% of the image) and watch the
# probability of the predicted class; do the same with 40 random pixels.

# %%
def blank_top(x, score, k=40):
    out = x.copy()
    for i in range(len(x)):
        idx = np.argsort(score[i].ravel(), kind="stable")[::-1][:k]
        out[i].reshape(-1)[idx] = 0.0
    return out


def mean_prob(x):
    return float(keras.ops.convert_to_numpy(model(x))[np.arange(len(x)), top].mean())


sal = fmwidget.saliency(model, xs)
rng = np.random.default_rng(0)
after = {
    "nothing": mean_prob(xs),
    "HiResCAM": mean_prob(blank_top(xs, hires)),
    "saliency": mean_prob(blank_top(xs, sal)),
    "random": mean_prob(blank_top(xs, rng.random(xs.shape[:3]))),
}
for name, p in after.items():
    print(f"blank 40 pixels chosen by {name:>9}: mean probability of the predicted class {p:.3f}")
assert after["HiResCAM"] < after["random"] and after["saliency"] < after["random"]
assert after["HiResCAM"] < after["nothing"] - 0.1

# %% [markdown]
# ## The class matters
#
# Every map answers "evidence for *which* class?". For a digit, compare the predicted class
# with the runner-up: the evidence sits in different strokes.

# %%
k = 0
runner_up = int(np.argsort(probs[k])[-2])
for_top = fmwidget.grad_cam(model, xs[k], class_index=int(top[k]), method="hires_cam")
for_other = fmwidget.grad_cam(model, xs[k], class_index=runner_up, method="hires_cam")
print(f"digit {labels[test][k]}: predicted {top[k]}, runner-up {runner_up}")
montage([xs[k, ..., 0], for_top, for_other], cols=3)
assert np.abs(for_top - for_other).max() > 0.2

# %% [markdown]
# ## Saliency: gradient, SmoothGrad, input × gradient
#
# The gradient with respect to the pixels says how much a tiny change of each pixel moves
# the score. It is noisy; SmoothGrad averages it over 25 copies of the input with a little
# Gaussian noise. We measure the noise as total variation (the summed jumps between
# neighbouring pixels) per unit of map weight.

# %%
x20 = xs[:20]
grad = fmwidget.saliency(model, x20)
smooth = fmwidget.saliency(model, x20, method="smoothgrad")
ixg = fmwidget.saliency(model, x20, method="input_x_gradient")


def roughness(m):
    jumps = np.abs(np.diff(m, axis=1)).sum(axis=(1, 2)) + np.abs(np.diff(m, axis=2)).sum(axis=(1, 2))
    return jumps / m.sum(axis=(1, 2))


print(f"roughness: gradient {roughness(grad).mean():.2f}, SmoothGrad {roughness(smooth).mean():.2f}")
assert (roughness(smooth) < roughness(grad)).mean() >= 0.8
montage([x20[1, ..., 0], grad[1], smooth[1], ixg[1]], cols=4)

# %% [markdown]
# ## The effective receptive field
#
# A cell of `pool2` can see a 10×10 patch of the input (its exact receptive field). But it
# does not weigh those pixels equally: the *effective* receptive field, `|d cell / d pixel|`,
# lies inside the exact one (an assert checks it) and is concentrated in its centre. Where a
# ReLU is dead or a max-pool passes another cell, a pixel can drop out completely.

# %%
fm = fmwidget.extract(model, xs[0])
erf = fm.effective_receptive_field("pool2", (3, 3))
mask = fm.receptive_field_mask("pool2", (3, 3))
rows, cols = fm.receptive_field("pool2", (3, 3))
patch = erf[rows, cols]
h, w = patch.shape
centre = patch[h // 4 : h - h // 4, w // 4 : w - w // 4]
share = float(centre.sum() / patch.sum())
print(f"exact field {mask.sum()} pixels, effective support {(erf > 0).sum()} pixels")
print(f"the central {centre.size / patch.size:.0%} of the field holds {share:.0%} of the effective field")
assert not (erf[~mask] > 0).any()  # never outside the exact field
assert share > centre.size / patch.size
montage([xs[0, ..., 0], mask, erf], cols=3, scale=6)

# %% [markdown]
# ## What does each `conv2` filter look for?
#
# Feature visualisation optimises an input image so that one filter fires as strongly as
# possible (Olah et al., "Feature Visualization", Distill 2017). So that the result is a
# pattern and not noise, the image lives in a blurred, decorrelated space and is randomly
# shifted and zoomed at every step. It is deterministic for a seed and cached per filter.

# %%
start = time.perf_counter()
vis = fmwidget.visualize_filter(model, "conv2", list(range(16)), steps=128)
print(f"16 filters in {time.perf_counter() - start:.1f} s")
# The strongest any real test digit drives each filter (its mean over the map):
best_digit = fmwidget.extract(model, images[test])["conv2"].mean(axis=(1, 2)).max(axis=0)
wins = sum(v.activation > b for v, b in zip(vis, best_digit))
print(f"{wins} of 16 optimised images excite their filter more than any of the "
      f"{len(images[test])} test digits")
assert wins == 16
assert fmwidget.visualize_filter(model, "conv2", 3, steps=128) is vis[3]  # cached
montage([v.image[..., 0] for v in vis], cols=8)

# %% [markdown]
# ## A real architecture: MobileNetV2
#
# **Random weights.** This notebook runs offline, so the model below has the real
# MobileNetV2 architecture with *random* weights (`weights=None`): its Grad-CAM does not
# point at the cat, and its predictions mean nothing. With ImageNet weights
# (`weights="imagenet"`, a download) the same calls explain real decisions. What *is*
# meaningful here is the geometry: Luo et al. (2016) showed that the effective receptive
# field of a deep cell covers only a small part of its exact one, and random weights are
# exactly their setting.

# %%
from skimage import data, transform

keras.utils.set_random_seed(0)
mobilenet = keras.applications.MobileNetV2(weights=None, input_shape=(96, 96, 3), alpha=0.35)
photo = transform.resize(data.chelsea(), (96, 96), anti_aliasing=True).astype("float32")
x = photo * 2 - 1  # MobileNetV2's input range
cam = fmwidget.grad_cam(mobilenet, x)  # default layer: the last spatial one before the head
print("Grad-CAM map", cam.shape, "(random weights: not a real explanation)")
assert cam.shape == (96, 96)
fm = fmwidget.extract(mobilenet, x)
erf = fm.effective_receptive_field("block_6_expand_relu", (6, 6))
mask = fm.receptive_field_mask("block_6_expand_relu", (6, 6))
ranked = np.sort(erf.ravel())[::-1]
half = int(np.searchsorted(np.cumsum(ranked) / ranked.sum(), 0.5)) + 1
print(f"block_6_expand_relu (6, 6): exact field {mask.sum()} pixels; half of the effective "
      f"field lies in its {half} strongest pixels ({half / mask.sum():.1%})")
assert not (erf[~mask] > 0).any()
assert half < 0.1 * mask.sum()
montage([photo, cam, erf / erf.max()], cols=3, scale=2)

# %% [markdown]
# ## In the widget
#
# The widget already carries the gradient lens on the Python side: `w.overlay` (`"none"`,
# `"grad_cam"`, `"saliency"`, `"erf"`), `w.class_index` (`None`: the top prediction) and
# `w.class_labels` name the class; the kernel computes an overlay or a filter's image only
# when the view asks for one. (The input-panel overlays and the filter card in the browser
# arrive in a later version.)

# %%
w = fmwidget.FeatureMapWidget(model, xs[0], class_labels=[str(d) for d in range(10)])
w.overlay = "grad_cam"
w

# %% [markdown]
# ## Takeaways
#
# * Gradients answer "how much would the score move?": Grad-CAM per region of a layer,
#   saliency per pixel, the effective receptive field per pixel of one cell.
# * Check faithfulness before trusting a map: blanking the pixels a map ranks highest should
#   hurt the prediction more than blanking random ones.
# * Grad-CAM's averaging suits global-average-pooling heads; behind `Flatten` + `Dense`
#   HiResCAM is exact.
# * A cell's exact receptive field bounds what it *can* see; its effective field shows what
#   it mostly *does* see: the centre.
