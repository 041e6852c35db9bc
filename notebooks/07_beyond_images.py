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
# # 7 · Beyond images: filters in time (Conv1D) and in volumes (Conv3D)
#
# A convolution does not care whether its grid is an image. A `Conv1D` slides its filters
# along **time** (an ECG, audio, a sensor), a `Conv3D` through a **volume** (a CT scan, or a
# video as time × rows × columns). Everything from the earlier notebooks carries over:
# a filter is a detector of a local shape, its map says where the shape is, pooling keeps
# the strongest response of a window, and every cell has an exact receptive field, now a
# span of time steps or a box across slices.
#
# What we will check, with numbers:
#
# * a small `Conv1D` trained in seconds on ECG-like signals finds the one abnormal heartbeat;
#   a filter of its last layer **peaks where that beat is**, and its best examples over the
#   whole test set **are that local shape**, cut at their exact receptive fields;
# * a small `Conv3D` tells a blob from a rod; its receptive field **grows across slices**
#   layer after layer, and a 3-D max-pool winner is the cell Keras took.
#
# The data are made here (no download): realistic enough to have noise, baseline wander
# and varying heart rates, simple enough that we know where the answer is.

# %%
import os

os.environ.setdefault("KERAS_BACKEND", "jax")  # CI sets KERAS_BACKEND=tensorflow; both work

import io

import keras
import numpy as np
from IPython.display import Image, display
from PIL import Image as PILImage
from PIL import ImageDraw

import fmwidget
from fmwidget.trace import trace

L = keras.layers
keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)


def show(img):
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    display(Image(buf.getvalue()))


def plot(rows, width=640, height=70, spans=()):
    """Line plots stacked vertically (one per row of ``rows``), shaded ``spans`` per row."""
    sheet = PILImage.new("RGB", (width, height * len(rows)), "white")
    draw = ImageDraw.Draw(sheet)
    for k, y in enumerate(rows):
        top, y = k * height, np.asarray(y, "float64")
        lo, hi = y.min(), y.max() + 1e-9
        for a, b in [s[1:] for s in spans if s[0] == k]:
            draw.rectangle([a * width / len(y), top, b * width / len(y), top + height - 1],
                           fill=(255, 220, 170))
        pts = [(i * width / len(y), top + 4 + (hi - v) / (hi - lo) * (height - 8))
               for i, v in enumerate(y)]
        draw.line(pts, fill=(30, 60, 160), width=2)
        draw.line([(0, top + height - 1), (width, top + height - 1)], fill=(200, 200, 200))
    show(sheet)


# %% [markdown]
# ## 1 · Heartbeats in time
#
# Each recording is 3 s of a single ECG lead at 100 Hz (300 time steps): P wave, a narrow
# QRS spike, T wave, at 60–100 beats per minute, with noise and a slowly wandering
# baseline. In half the recordings one beat is a **premature ventricular contraction**
# (PVC): it comes early, has no P wave, a wide and tall QRS and an inverted T wave. The
# class depends on one local shape, somewhere in time.

# %%
FS, N_STEPS = 100, 300


def wave(t, centre, width, amp):
    return amp * np.exp(-0.5 * ((t - centre) / width) ** 2)


def recording(pvc: bool):
    t = np.arange(N_STEPS) / FS
    rr = 60 / rng.uniform(60, 100)
    beats = np.arange(rng.uniform(0.1, 0.5), 3.0, rr)
    odd = int(rng.integers(1, len(beats) - 1)) if pvc else -1
    y, where = np.zeros(N_STEPS), None
    for k, b in enumerate(beats):
        if k == odd:  # early, no P wave, wide tall QRS, inverted T
            b = b - 0.25 * rr
            y += wave(t, b, 0.035, 1.4) - wave(t, b + 0.06, 0.03, 0.5) - wave(t, b + 0.3, 0.06, 0.45)
            where = b
        else:
            y += wave(t, b - 0.16, 0.02, 0.15) - wave(t, b - 0.03, 0.008, 0.15)
            y += wave(t, b, 0.01, 1.0) - wave(t, b + 0.03, 0.01, 0.25) + wave(t, b + 0.25, 0.04, 0.3)
    y += 0.15 * np.sin(2 * np.pi * rng.uniform(0.1, 0.4) * t + rng.uniform(0, 6))  # breathing
    y += rng.normal(0, 0.05, N_STEPS)
    return y.astype("float32"), (-1 if where is None else int(round(where * FS)))


data = [recording(pvc=i % 2 == 1) for i in range(600)]
x_ecg = np.stack([d[0] for d in data])[..., None]  # (recordings, time steps, channels=1)
y_ecg = np.arange(600) % 2  # 1: holds a PVC
pvc_at = np.array([d[1] for d in data])  # time step of the PVC's QRS, -1 if none
T0 = 480  # the first 480 recordings train the model, the other 120 test it
print("data:", x_ecg.shape, "- PVC in", y_ecg.sum(), "recordings")
plot([x_ecg[0, :, 0], x_ecg[1, :, 0]], spans=[(1, pvc_at[1] - 10, pvc_at[1] + 10)])

# %% [markdown]
# Above: a normal recording, and one with a PVC (shaded). The model is three small
# convolutions with pooling, and a global max over time: "is the shape anywhere?"

# %%
ecg_model = keras.Sequential(
    [
        keras.Input((N_STEPS, 1)),
        L.Conv1D(8, 7, padding="same", activation="relu", name="conv1"),
        L.MaxPooling1D(2, name="pool1"),
        L.Conv1D(16, 7, padding="same", activation="relu", name="conv2"),
        L.MaxPooling1D(2, name="pool2"),
        L.Conv1D(16, 5, padding="same", activation="relu", name="conv3"),
        L.GlobalMaxPooling1D(name="anywhere"),
        L.Dense(2, activation="softmax", name="classifier"),
    ],
    name="ecg_cnn",
)
ecg_model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
ecg_model.fit(x_ecg[:T0], y_ecg[:T0], epochs=12, batch_size=32, verbose=0)
_, acc = ecg_model.evaluate(x_ecg[T0:], y_ecg[T0:], verbose=0)
print(f"accuracy on {len(x_ecg) - T0} unseen recordings: {acc:.3f}")
assert acc > 0.9

# %% [markdown]
# ## How far in time does a cell see?
#
# The receptive field of a `conv3` cell: 7 steps for `conv1`, +1 for the pooling, +6 × 2
# for `conv2` (its taps are 2 input steps apart after one pooling), +1 × 2, +4 × 4:
# **38 time steps**, 0.38 s, about one heartbeat. `fm.receptive_field` says the same.

# %%
fm = fmwidget.extract(ecg_model, x_ecg[T0])
for name in ("conv1", "pool1", "conv2", "pool2", "conv3"):
    n = fm.info(name).spatial_shape[0]
    (span,) = fm.receptive_field(name, (n // 2,))
    print(f"{name:6s} {n:3d} cells, a middle cell sees steps [{span.start}, {span.stop}):"
          f" {span.stop - span.start} steps")
(span,) = fm.receptive_field("conv3", (37,))
assert span.stop - span.start == 7 + 1 + 6 * 2 + 1 * 2 + 4 * 4 == 38

# %% [markdown]
# ## A filter that fires where the abnormal beat is
#
# Which of the 16 `conv3` filters separates the classes best? The one whose strongest
# response (over time) is highest on PVC recordings compared with normal ones. Then, on
# unseen recordings: where in time does its map peak?

# %%
test = slice(T0, None)
fm_test = fmwidget.extract(ecg_model, x_ecg[test])
peak = fm_test["conv3"].max(axis=1)  # (recordings, filters)
gap = peak[y_ecg[test] == 1].mean(0) - peak[y_ecg[test] == 0].mean(0)
pvc_filter = int(np.argmax(gap))
print(f"filter {pvc_filter}: mean peak {peak[y_ecg[test] == 1, pvc_filter].mean():.2f} with a "
      f"PVC, {peak[y_ecg[test] == 0, pvc_filter].mean():.2f} without")

hits, with_pvc = 0, np.flatnonzero(y_ecg[test] == 1)
for i in with_pvc:
    cell = int(np.argmax(fm_test["conv3"][i, :, pvc_filter]))
    (span,) = fm_test.receptive_field("conv3", (cell,))
    hits += span.start <= pvc_at[T0 + i] < span.stop
print(f"its peak cell sees the PVC in {hits} of {len(with_pvc)} PVC recordings")
assert hits >= 0.9 * len(with_pvc)

i = int(with_pvc[0])
act = fm_test["conv3"][i, :, pvc_filter]
cell = int(np.argmax(act))
(span,) = fm_test.receptive_field("conv3", (cell,))
plot([x_ecg[T0 + i, :, 0], np.repeat(act, 4)], spans=[(0, span.start, span.stop)])

# %% [markdown]
# Top: a PVC recording, the receptive field of the filter's peak cell shaded. Bottom: the
# filter's map (75 cells, each drawn 4 steps wide, aligned with the input): flat on normal
# beats, one peak on the abnormal one.
#
# ## Its best examples over the whole test set are that shape
#
# `top_examples` (notebook 5) works on sequences as it does on images: positions are time
# steps, and each patch is the exact receptive field of the winning cell, a 38-step piece
# of the recording (shorter where it meets the start or end).

# %%
ex = fmwidget.top_examples(ecg_model, x_ecg[test], layers=["conv3"], k=8, progress=False)
best = ex.indices("conv3")[pvc_filter]
boxes = ex.boxes("conv3")[pvc_filter]  # (k, 1, 2): [start, stop) in time
patches = ex.patches("conv3", pvc_filter)
print("best recordings:", best.tolist(), "- classes:", y_ecg[T0 + best].tolist())
print("patch lengths:", [len(p) for p in patches])
inside = [b[0, 0] <= pvc_at[T0 + j] < b[0, 1] for j, b in zip(best, boxes)]
assert (y_ecg[T0 + best] == 1).all() and all(inside)
cut = [x_ecg[T0 + j][b[0, 0] : b[0, 1]] for j, b in zip(best, boxes)]  # the exact fields
assert all(np.array_equal(p, c) for p, c in zip(patches, cut))
plot([p[:, 0] for p in patches[:4]], width=320, height=55)

# %% [markdown]
# Four of the eight best patches: the same wide spike and inverted T, wherever in the
# recording the PVC fell. The filter learned a **local shape in time**, not a position.
#
# Grad-CAM (notebook 6) says the same from the decision's side: the evidence for "PVC"
# is where the PVC is: on the abnormal beat, which spans from just before its wide QRS to
# the end of the inverted T wave 0.3 s (30 steps) after it. Behind a global max, a filter's gradient
# sits on its peak cell only, so we use HiResCAM, which keeps each cell's own gradient
# (plain Grad-CAM averages it over the 75 cells and can come out empty here).

# %%
cam = fmwidget.grad_cam(ecg_model, x_ecg[T0 + i], class_index=1, method="hires_cam")
print(f"HiResCAM peaks at step {int(np.argmax(cam))}; the PVC's QRS is at step {pvc_at[T0 + i]}")
assert cam.max() > 0 and pvc_at[T0 + i] - 10 <= int(np.argmax(cam)) < pvc_at[T0 + i] + 40
plot([x_ecg[T0 + i, :, 0], cam])

# %% [markdown]
# The widget opens on a `Conv1D` model as on any other: hover a cell of a layer to read
# its value and see its receptive field.

# %%
w1 = fmwidget.FeatureMapWidget(ecg_model, x_ecg[T0 + i], layer="conv3", view="grid")
w1

# %% [markdown]
# ## 2 · Shapes in a volume
#
# 10 × 10 × 10 volumes (depth × rows × columns, one channel), noisy: half hold a bright
# **blob** (a ball), half a bright **rod** (a line 7 voxels long along one of the three
# axes). A rod along the depth axis looks like a dot in every slice, just like a blob's
# middle slice: only by looking **across slices** can one tell them apart.

# %%
S = 10


def volume(rod: bool):
    grid = np.stack(np.meshgrid(*(np.arange(S),) * 3, indexing="ij"), -1).astype("float32")
    centre = rng.uniform(3.5, S - 4.5, 3)
    if rod:
        axis = int(rng.integers(3))
        d = grid - centre
        along = d[..., axis]
        across = np.sqrt((d**2).sum(-1) - along**2)
        v = np.exp(-0.5 * (across / 0.7) ** 2) * (np.abs(along) <= 3.5)
    else:
        v = np.exp(-0.5 * (((grid - centre) ** 2).sum(-1)) / 1.2**2)
    v = v + rng.normal(0, 0.1, v.shape)
    return v.astype("float32")[..., None], np.round(centre).astype(int)


vols = [volume(rod=i % 2 == 1) for i in range(300)]
x_vol = np.stack([v[0] for v in vols])
y_vol = np.arange(300) % 2  # 1: rod
centres = np.stack([v[1] for v in vols])
tiles = [x_vol[k, d, :, :, 0] for k in (0, 1) for d in range(2, 10)]
sheet = np.concatenate([np.concatenate(tiles[:8], 1), np.concatenate(tiles[8:], 1)], 0)
show(PILImage.fromarray((np.clip(sheet, 0, 1) * 255).astype("uint8")).resize((768, 192),
     PILImage.NEAREST))

# %% [markdown]
# Above: slices 2–9 of a blob (top) and of a rod (bottom). The model: two `Conv3D` layers
# with a 3-D max pool between them, then a global max.

# %%
vol_model = keras.Sequential(
    [
        keras.Input((S, S, S, 1)),
        L.Conv3D(4, 3, padding="same", activation="relu", name="conv1"),
        L.MaxPooling3D(2, name="pool1"),
        L.Conv3D(8, 3, padding="same", activation="relu", name="conv2"),
        L.GlobalMaxPooling3D(name="anywhere"),
        L.Dense(2, activation="softmax", name="classifier"),
    ],
    name="volume_cnn",
)
vol_model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
vol_model.fit(x_vol[:240], y_vol[:240], epochs=8, batch_size=16, verbose=0)
_, acc3 = vol_model.evaluate(x_vol[240:], y_vol[240:], verbose=0)
print(f"accuracy on 60 unseen volumes: {acc3:.3f}")
assert acc3 > 0.85  # chance: 0.5

# %% [markdown]
# ## The receptive field grows across slices
#
# A `conv1` cell sees a 3 × 3 × 3 box: 3 slices. After the pooling, 4. A `conv2` cell
# (3 taps, 2 voxels apart) sees 4 + 2 × 2 = 8 slices: most of the volume's depth.

# %%
fm3 = fmwidget.extract(vol_model, x_vol[1])
for name, cell in (("conv1", (5, 5, 5)), ("pool1", (2, 2, 2)), ("conv2", (2, 2, 2))):
    box = fm3.receptive_field(name, cell)
    print(f"{name} cell {cell} sees slices [{box[0].start}, {box[0].stop}), "
          f"rows [{box[1].start}, {box[1].stop}), cols [{box[2].start}, {box[2].stop})")
depth = [fm3.receptive_field(n, c)[0] for n, c in (("conv1", (5,) * 3), ("pool1", (2,) * 3),
                                                   ("conv2", (2,) * 3))]
assert [s.stop - s.start for s in depth] == [3, 4, 8]

# %% [markdown]
# ## A 3-D max-pool winner
#
# A `pool1` cell keeps the largest of 2 × 2 × 2 = 8 `conv1` cells, two per slice. Take the
# pooled cell over the blob's centre: `pool_source` says which of the 8 won, and the value
# there is the one Keras pooled.

# %%
blob = 0
fmb = fmwidget.extract(vol_model, x_vol[blob])
pooled_cell = tuple(int(c) // 2 for c in centres[blob])
f = int(np.argmax(fmb["pool1"][(0, *pooled_cell)]))  # the strongest filter there
window = fmb.pool_window("pool1", pooled_cell)
winner = fmb.pool_source("pool1", pooled_cell, f)
values = fmb["conv1"][(0, *window, f)]
print(f"pooled cell (depth, row, col) = {pooled_cell}, filter {f}")
for d in range(2):
    print(f"  slice {window[0].start + d}:", np.round(values[d], 3).tolist())
print(f"winner {winner}: {fmb['conv1'][(0, *winner, f)]:.3f} = pooled value "
      f"{fmb['pool1'][(0, *pooled_cell, f)]:.3f}")
pool_model = keras.Model(vol_model.inputs[0], vol_model.get_layer("pool1").output)
keras_pooled = keras.ops.convert_to_numpy(pool_model(x_vol[blob][None]))  # Keras's own pool
assert fmb["conv1"][(0, *winner, f)] == keras_pooled[(0, *pooled_cell, f)] == values.max()
assert all(s.start <= p < s.stop for s, p in zip(window, winner))

# %% [markdown]
# `trace` (what the widget shows when you click a cell) follows the same chain as in 2-D,
# now with a depth: the `conv1` cell, its ReLU, the pooling window and its winner.

# %%
t = trace(fmb, "conv1", f, winner)
for s in t["steps"]:
    print(f"{s['layer']:6s} {s['kind']:10s} (depth, row, col) = "
          f"({s['depth']}, {s['row']}, {s['col']})  value {s['value']:.3f}")
assert [s["kind"] for s in t["steps"]] == ["conv", "activation", "pooling"]
assert (t["steps"][-1]["argmax"]["depth"], t["steps"][-1]["argmax"]["row"],
        t["steps"][-1]["argmax"]["col"]) == winner

# %% [markdown]
# ## Takeaways
#
# * `Conv1D` and `Conv3D` are the same idea on another grid: a filter detects a local
#   shape (a heartbeat's form, a blob's roundness) wherever it occurs.
# * Receptive fields are spans of time steps or boxes across slices, exact, and they grow
#   layer after layer as in 2-D; pooling winners and traces carry a depth.
# * `extract`, `receptive_field`, `pool_source`, `top_examples`, `grad_cam` and `trace` take
#   sequences and volumes as they take images. Try it on your own signal or scan.
