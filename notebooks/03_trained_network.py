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
# # 3 · A trained network: from strokes to parts of digits
#
# We train a small CNN on real handwritten digits (1797 of them ship with scikit-learn)
# in a few seconds, then look inside:
#
# * the first convolution sees 3×3 pixels: its filters respond to **strokes and their
#   edges**;
# * after pooling, the second convolution sees 8×8 pixels and **combines** the first
#   layer's maps into detectors for larger parts of a digit;
# * finally, we **trace** one pooled activation back to the pixels that caused it, and
#   prove that no other pixel matters.

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
import time

from sklearn.datasets import load_digits

keras.utils.set_random_seed(0)
digits = load_digits()
# 8x8 digits with values 0..16, scaled to [0, 1] and enlarged 3x so the maps are readable.
images = np.kron(digits.images / 16.0, np.ones((3, 3)))[..., None].astype("float32")
labels = digits.target
train, test = slice(0, 1500), slice(1500, None)
print(images.shape, "images;", "train", images[train].shape[0], "test", images[test].shape[0])

# %%
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
model.fit(images[train], labels[train], epochs=15, batch_size=32, verbose=0)
_, acc = model.evaluate(images[test], labels[test], verbose=0)
print(f"trained in {time.perf_counter() - start:.1f} s; accuracy on {len(labels[test])} unseen digits: {acc:.3f}")
assert acc > 0.85

# %% [markdown]
# ## Each layer sees a bigger patch
#
# A cell's **receptive field** is the set of input pixels it depends on. It grows layer by
# layer: 3×3 for `conv1`, 4×4 after pooling, 8×8 for `conv2`, 10×10 after the second
# pooling. At the same time the maps get smaller and deeper.

# %%
x = images[1500]
fm = fmwidget.extract(model, x)
sizes = {}
for name in ["conv1", "pool1", "conv2", "pool2"]:
    h, w_, c = fm[name].shape[1:]
    rows, cols = fm.receptive_field(name, (h // 2, w_ // 2))
    sizes[name] = (rows.stop - rows.start, cols.stop - cols.start)
    print(f"{name}: maps {h}x{w_}, {c} of them; one cell sees {sizes[name][0]}x{sizes[name][1]} pixels")
assert sizes == {"conv1": (3, 3), "pool1": (4, 4), "conv2": (8, 8), "pool2": (10, 10)}

# %% [markdown]
# ## The hierarchy at a glance
#
# The widget opens on the **overview** of the whole network: one column per layer, left
# to right, each a volume whose face grows with the map's size and whose depth grows with
# the number of maps. Read it left to right:
#
# * the faces **shrink** (24×24 → 12×12 → 6×6: each pooling halves them) while the
#   volumes get **deeper** (1 → 8 → 16 maps): fewer positions, more kinds of pattern;
# * `flatten` lays the 6×6×16 volume out as one vector of 576 values, and `classifier`
#   is ten cells, the probabilities of the ten digits (the largest is the prediction);
# * **hover** a cell of a `pool2` thumbnail: the cells it reads light up in orange in
#   every column before it, a 10×10 patch of the digit on the input; hover a `conv1` cell
#   and the patch is 3×3. Later layers see more of the digit. The blue cells are those
#   that read the hovered one.
#
# The boxes the overview draws come from the same receptive fields as above (the table
# below is what the widget sends to the browser with each layer's maps).

# %%
overview = fmwidget.FeatureMapWidget(model, x)
assert overview.view == "overview"  # the default view
columns = {col["name"]: col for col in overview.layers}
spatial = ["input", "conv1", "pool1", "conv2", "pool2"]
seen = []
for name in spatial:
    col = columns[name]
    rows, cols = overview.fm.receptive_field_table(name)  # per row / column: input rows/cols
    r0, r1 = (int(v) for v in rows[col["height"] // 2])
    c0, c1 = (int(v) for v in cols[col["width"] // 2])
    seen.append(r1 - r0)
    shape = f"{col['height']}x{col['width']}x{col['channels']}"
    print(f"{name:>10}: {shape:<9} a middle cell sees {r1 - r0}x{c1 - c0} pixels")
    if name in sizes:
        assert (r1 - r0, c1 - c0) == sizes[name]  # the widget's boxes = fm.receptive_field
for name in ["flatten", "classifier"]:
    print(f"{name:>10}: a vector of {columns[name]['shape'][-1]}")
heights = [columns[n]["height"] for n in spatial]
depths = [columns[n]["channels"] for n in spatial]
assert heights == [24, 24, 12, 12, 6] and depths == [1, 8, 8, 16, 16]
assert all(a >= b for a, b in zip(heights, heights[1:]))  # the maps shrink ...
assert all(a <= b for a, b in zip(depths, depths[1:]))  # ... and deepen
assert seen == [1, 3, 4, 8, 10] and seen == sorted(set(seen))  # later layers see more
assert columns["flatten"]["shape"][-1] == 6 * 6 * 16 and columns["classifier"]["shape"][-1] == 10
probs = overview.fm["classifier"][0]
print(f"classifier: predicts {int(np.argmax(probs))} with probability {probs.max():.2f};"
      f" the label is {labels[1500]}")
assert abs(probs.sum() - 1) < 1e-4  # softmax: probabilities
overview

# %% [markdown]
# ## What do the filters respond to?
#
# A simple way to find out: over 200 test digits, collect the input patches that make
# each filter respond most, and average the top 20 (cells whose patch lies fully inside
# the image). For `conv1` a patch is 3×3 pixels, for `conv2` 8×8. White = ink, black =
# paper.

# %%
batch = images[1500:1700]
fmb = fmwidget.extract(model, batch)


def top_patches(layer, f, k=20):
    h, w_ = fmb[layer].shape[1:3]
    # only cells whose receptive field lies fully inside the image (not clipped by padding)
    full = np.array([[fmb.receptive_field(layer, (r, c))[0].stop
                      - fmb.receptive_field(layer, (r, c))[0].start == sizes[layer][0]
                      and fmb.receptive_field(layer, (r, c))[1].stop
                      - fmb.receptive_field(layer, (r, c))[1].start == sizes[layer][1]
                      for c in range(w_)] for r in range(h)])
    maps = np.where(full, fmb[layer][..., f], -np.inf)   # (sample, row, col)
    best = np.argsort(maps.ravel())[::-1][:k]
    patches = []
    for s, r, c in zip(*np.unravel_index(best, maps.shape)):
        rows, cols = fmb.receptive_field(layer, (int(r), int(c)))
        patches.append(batch[s, rows, cols, 0])
    return np.mean(patches, axis=0)


conv1_pref = [top_patches("conv1", f) for f in range(8)]
conv2_pref = [top_patches("conv2", f) for f in range(16)]
print("conv1: average 3x3 patch that excites each of the 8 filters most")
montage(conv1_pref, scale=12, cols=8, vmin=0, vmax=1)
print("conv2: average 8x8 patch that excites each of the 16 filters most")
montage(conv2_pref, scale=6, cols=8, vmin=0, vmax=1)


# %% [markdown]
# Every `conv1` filter likes **ink**: its favourite 3×3 patch is a piece of stroke,
# either the inside of a stroke (all white) or a stroke's **edge** (ink on one side,
# paper on the other). The `conv2` patches are bigger and have a **shape**: ink and
# paper arranged as a bar, a corner, the end of a stroke, a gap. In numbers (a patch "has
# both" if it holds ink > 0.5 and paper < 0.25):

# %%
def has_both(p):
    return p.max() > 0.5 and p.min() < 0.25


ink = [round(float(p.mean()), 2) for p in conv1_pref]
edges1 = [f for f, p in enumerate(conv1_pref) if has_both(p)]
shapes2 = [f for f, p in enumerate(conv2_pref) if has_both(p)]
print("conv1: mean ink of each favourite patch:", ink)
print(f"conv1: {len(edges1)} of 8 favourite patches are stroke edges (ink and paper): {edges1}")
print(f"conv2: {len(shapes2)} of 16 favourite patches mix ink and paper into a shape")
assert min(ink) > 0.3           # every first-layer filter responds to ink, i.e. strokes
assert len(edges1) >= 2         # some of them to the edge of a stroke
assert len(shapes2) >= 8        # most second-layer filters to an arrangement of strokes

# %% [markdown]
# ## Later filters combine earlier ones
#
# A `conv2` cell is a sum over all 8 maps of `pool1` (each through its own 3×3 slice of
# the filter). Take the strongest `conv2` cell of this digit and list how much each
# `pool1` map contributed: several earlier detectors add up to one later detection.

# %%
from fmwidget.trace import conv_arithmetic

pre2 = fm.pre_activation("conv2")[0]
r2, c2, f2 = (int(v) for v in np.unravel_index(np.argmax(pre2), pre2.shape))
sums = conv_arithmetic(fm, "conv2", f2, (r2, c2))
print(f"conv2 filter {f2} at ({r2}, {c2}) = {sums['total']:.3f}  (bias {sums['bias']:+.3f})")
for t in sums["terms"]:
    print(f"  from pool1 map {t['channel']}: {t['contribution']:+.3f}")
positive = [t for t in sums["terms"] if t["contribution"] > 0.1 * sums["total"]]
print(f"{len(positive)} of the 8 pool1 maps each contribute more than 10% of the total")
assert sums["n_channels"] == 8 and len(positive) >= 2
assert abs(sums["total"] - pre2[r2, c2, f2]) < 1e-4

# %% [markdown]
# ## Trace a pooled activation back to its pixels
#
# Pick the strongest cell of `pool2` for this digit. `fmwidget.trace.trace` walks back:
# the pooled value came from one `conv2` cell (the winner of its 2×2 window), which is
# the ReLU of a weighted sum, which read a 10×10 patch of the digit.

# %%
from fmwidget.trace import trace

p2 = fm["pool2"][0]
r, c, f = (int(v) for v in np.unravel_index(np.argmax(p2), p2.shape))
t = trace(fm, "pool2", f, (r, c))
for s in t["steps"]:
    what = "before ReLU" if s.get("pre_activation") else s["kind"]
    extra = ""
    if "argmax" in s:
        win, arg = s["window"], s["argmax"]
        extra = (f": max of conv2 rows {win['row0']}-{win['row1'] - 1}, cols {win['col0']}-"
                 f"{win['col1'] - 1}, winner ({arg['row']}, {arg['col']})")
    print(f"{s['layer']:>6} ({what:>11}) cell ({s['row']}, {s['col']}) = {s['value']:.3f}{extra}")
rf = fm.receptive_field("pool2", (r, c))
print("receptive field of pool2", (r, c), "=", rf)

src = fm.pool_source("pool2", (r, c), f)
assert t["steps"][-1]["value"] == p2[r, c, f]
assert (t["steps"][-1]["argmax"]["row"], t["steps"][-1]["argmax"]["col"]) == src
assert t["steps"][0]["layer"] == "conv2" and t["steps"][0]["pre_activation"]
assert x[rf].sum() > 0  # there is ink in the patch

# %% [markdown]
# Is the receptive field really the whole story? Replace every pixel **outside** it by
# random noise: the pooled value does not move. Replace the pixels **inside** it: it does.

# %%
rng = np.random.default_rng(0)
inside = np.zeros(x.shape, bool)
inside[rf] = True
noise = rng.random(x.shape).astype("float32")
outside_changed = np.where(inside, x, noise)
inside_changed = np.where(inside, noise, x)
v0 = p2[r, c, f]
v_out = fmwidget.extract(model, outside_changed)["pool2"][0, r, c, f]
v_in = fmwidget.extract(model, inside_changed)["pool2"][0, r, c, f]
print(f"pool2 value: original {v0:.4f}, noise outside {v_out:.4f}, noise inside {v_in:.4f}")
assert abs(v_out - v0) < 1e-5 and abs(v_in - v0) > 1e-3

# %% [markdown]
# The same trace in the widget: the trace panel lists each step with its value and the
# pooling window with the winner; the conv step shows the weighted sum term by term; the
# outline on the digit is the receptive field. Click any other cell (or press Enter on a
# focused one) to trace it instead; switch layers in the strip at the top to see
# `conv1`'s stroke maps next to `conv2`'s part maps.

# %%
w = fmwidget.FeatureMapWidget(model, x, layer="pool2", view="grid")
w.trace_target = {"layer": "pool2", "filter": f, "row": r, "col": c}
w

# %% [markdown]
# **Takeaways.** Early filters look at a few pixels and find strokes and edges; each
# later layer sees a bigger patch and combines the maps before it into larger parts.
# Any activation can be traced back to exactly the pixels that caused it. Next:
# [4 · Your own model](04_your_own_model.ipynb).
