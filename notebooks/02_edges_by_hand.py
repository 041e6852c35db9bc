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
# # 2 · Edges by hand, then max pooling
#
# A trained network learns its filters, but nothing stops us from writing them ourselves.
# Here a `Conv2D` gets four hand-made 3×3×3 filters (for RGB images):
#
# | filter | weights | lights up where … |
# |---|---|---|
# | 0 vertical edge | Sobel, left −, right + (all colours) | it gets brighter from left to right |
# | 1 horizontal edge | Sobel, top −, bottom + | it gets brighter from top to bottom |
# | 2 colour edge | Sobel on (red − blue) | colour turns from blue to red, left to right, *even at equal brightness* |
# | 3 texture | checkerboard of +1 and −1.25 | there is a fine checkerboard-like texture |
#
# The weights of every filter sum to zero, so a flat, uniform region gives 0: only
# *change* in the image makes a filter respond.
#
# A ReLU keeps the positive responses (the pattern *in this direction*). Then
# `MaxPooling2D(2)`: each 2×2 window of a map is replaced by its largest value.

# %%
import os
os.environ.setdefault("KERAS_BACKEND", "jax")  # CI sets KERAS_BACKEND=tensorflow; both work

import keras
import numpy as np

import fmwidget
from skimage import data, filters, transform

sobel = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], "float32") / 4
checker = np.where(np.indices((3, 3)).sum(0) % 2, -1.25, 1.0).astype("float32") / 9
kernel = np.zeros((3, 3, 3, 4), "float32")  # rows, cols, input channels (RGB), filters
kernel[:, :, :, 0] = sobel[..., None] / 3      # same on R, G, B: brightness only
kernel[:, :, :, 1] = sobel.T[..., None] / 3
kernel[:, :, 0, 2], kernel[:, :, 2, 2] = sobel, -sobel   # red minus blue
kernel[:, :, :, 3] = checker[..., None] / 3
NAMES = ["vertical", "horizontal", "colour", "texture"]

L = keras.layers


def edge_model(height, width):
    model = keras.Sequential(
        [
            keras.Input((height, width, 3)),
            L.Conv2D(4, 3, padding="same", activation="relu", use_bias=False, name="edges"),
            L.MaxPooling2D(2, name="pool"),
            L.MaxPooling2D(2, name="pool2"),
        ],
        name="hand_made_filters",
    )
    model.get_layer("edges").set_weights([kernel])
    return model


print("filter 0 (one colour channel):\n", kernel[:, :, 0, 0] * 3)

# %% [markdown]
# ## Test cards: does each filter fire on its own pattern, and only there?
#
# Four 32×32 test images with one pattern each, exactly at known places: a vertical
# brightness edge between columns 15 and 16, a horizontal one between rows 15 and 16, a
# blue→red edge between columns 15 and 16 (both colours equally bright), and a 1-pixel
# checkerboard. The table gives each filter's strongest response on each card (we skip
# the outermost ring of pixels: there `same` padding adds zeros, which look like an edge
# to the filters).

# %%
cards = np.full((4, 32, 32, 3), 0.2, "float32")
cards[0, :, 16:] = 0.8                                   # vertical edge
cards[1, 16:, :] = 0.8                                   # horizontal edge
cards[2, :, :16] = [0.1, 0.4, 0.9]                       # blue ...
cards[2, :, 16:] = [0.9, 0.4, 0.1]                       # ... then red: same mean brightness
cards[3] = np.where((np.indices((32, 32)).sum(0) % 2)[..., None], 0.8, 0.2)  # checkerboard

card_model = edge_model(32, 32)
fm_cards = fmwidget.extract(card_model, cards)  # a batch of 4 works too
resp = fm_cards["edges"][:, 1:-1, 1:-1, :]       # (card, row, col, filter), border skipped
table = resp.max(axis=(1, 2)).T                  # table[filter, card]
print("strongest response   " + "".join(f"{n:>12}" for n in NAMES) + "   <- card")
for f, name in enumerate(NAMES):
    print(f"filter {f} {name:>11}" + "".join(f"{v:12.3f}" for v in table[f]))

# Each filter responds most to its own card, and at most a fifth as much to the others.
for f in range(4):
    others = np.delete(table[f], f)
    assert table[f, f] > 0 and others.max() <= 0.2 * table[f, f], (NAMES[f], table[f])
print("\nthe brightness filters ignore the pure colour edge:", table[0, 2], table[1, 2])


# %% [markdown]
# … and *where* do they fire? Exactly on the edge: the vertical filter's strong cells
# (more than half its maximum) are all in columns 15 and 16, the two columns whose 3×3
# window straddles the edge. Likewise rows 15–16 for the horizontal edge.

# %%
def strong(card, f):
    m = resp[card, :, :, f]
    return np.argwhere(m > 0.5 * m.max()) + 1  # +1: back to image coordinates

cols_v = sorted(set(strong(0, 0)[:, 1].tolist()))
rows_h = sorted(set(strong(1, 1)[:, 0].tolist()))
cols_c = sorted(set(strong(2, 2)[:, 1].tolist()))
print("vertical filter fires in columns", cols_v)
print("horizontal filter fires in rows ", rows_h)
print("colour filter fires in columns  ", cols_c)
assert cols_v == [15, 16] and rows_h == [15, 16] and cols_c == [15, 16]
print("texture filter fires on", f"{(resp[3, :, :, 3] > 0).mean():.0%}", "of the checkerboard's cells")

# %% [markdown]
# In the widget: the first card (change `sample=` to 1, 2, 3 for the others). Hover the
# bright line in map 0: the outline on the input sits on the edge.

# %%
fmwidget.FeatureMapWidget(card_model, cards, layer="edges", sample=0, view="grid")

# %% [markdown]
# ## On real photos
#
# `skimage.data` ships real photos (no download). Filter 0 is the classic **Sobel**
# edge detector: before the ReLU its map matches `skimage.filters.sobel_v`, written
# independently, to a correlation of 1.000 (away from the border, where the two pad
# differently).

# %%
photo = transform.resize(data.astronaut(), (97, 129), anti_aliasing=True).astype("float32")
x = photo[:96, :128]            # 96x128 RGB
model = edge_model(96, 128)
fm = fmwidget.extract(model, x)

pre = fm.pre_activation("edges")[0]  # before the ReLU: signed responses
gray = x.mean(axis=-1)
r_v = np.corrcoef(pre[2:-2, 2:-2, 0].ravel(), filters.sobel_v(gray)[2:-2, 2:-2].ravel())[0, 1]
r_h = np.corrcoef(pre[2:-2, 2:-2, 1].ravel(), filters.sobel_h(gray)[2:-2, 2:-2].ravel())[0, 1]
print(f"correlation with skimage's Sobel: vertical {r_v:.4f}, horizontal {r_h:.4f}")
assert r_v > 0.999 and r_h > 0.999
for f, name in enumerate(NAMES):
    m = fm["edges"][0, :, :, f]
    print(f"filter {f} {name:>10}: active (> 0) on {(m > 0).mean():5.1%} of the image, max {m.max():.3f}")

# %% [markdown]
# Look at the four maps: map 0 lights up on the vertical lines (the edge of the helmet,
# the flag's stripes), map 1 on the horizontal ones, map 2 on the red/blue
# boundaries of the flag and suit patches, map 3 on fine texture. Hover a bright spot and
# check the outline on the photo.

# %%
w = fmwidget.FeatureMapWidget(model, x, layer="edges", view="grid")
w

# %% [markdown]
# ## Max pooling: half the size, same depth, strongest response kept
#
# `MaxPooling2D(2)` looks at each map separately, in 2×2 windows that do not overlap, and
# keeps the largest value. So the height and width halve, the number of maps (the
# depth) stays 4, and each pooled cell equals the maximum of its window.
# `fm.pool_window` gives the window, `fm.pool_source` the cell that won.

# %%
print("edges:", fm["edges"].shape, "-> pool:", fm["pool"].shape, "-> pool2:", fm["pool2"].shape)
assert fm["pool"].shape == (1, 48, 64, 4)   # half the size, same depth
assert fm["pool2"].shape == (1, 24, 32, 4)

e = fm["edges"][0]
windows_max = e.reshape(48, 2, 64, 2, 4).max(axis=(1, 3))
assert np.array_equal(fm["pool"][0], windows_max)  # every pooled cell = max of its window
print("every pooled value is the max of its 2x2 window: True")

f = 0
r, c = (int(v) for v in np.unravel_index(np.argmax(fm["pool"][0, :, :, f]), (48, 64)))
win = fm.pool_window("pool", (r, c))
src = fm.pool_source("pool", (r, c), f)
print(f"pool({r}, {c}) of map {f} looked at edges rows {win[0].start}-{win[0].stop - 1},"
      f" cols {win[1].start}-{win[1].stop - 1}:")
print(np.round(e[win[0], win[1], f], 3))
print("the winner is", src, "with", round(float(e[src + (f,)]), 3), "= pooled value", round(float(fm["pool"][0, r, c, f]), 3))
assert e[src + (f,)] == fm["pool"][0, r, c, f]

# %% [markdown]
# ## Shift the photo by one pixel
#
# Now move the photo one pixel to the left and run it again. The convolution is
# **translation-equivariant**: its maps move with the image, pixel for pixel. But that
# means that, compared *at the same position*, almost every edge cell changes. Pooling
# helps: a 2×2 window holds on to its maximum as long as the winner stays inside
# the window, so many pooled cells keep exactly the same value. A second pooling helps
# more. We measure two things for each layer, comparing original and shifted maps at the
# same positions:
#
# * the **relative change** ‖shifted − original‖ / ‖original‖;
# * among the active cells (above 10% of that map's maximum), the fraction that stayed
#   **within 10%** of it.

# %%
x_shift = photo[:96, 1:129]   # the same photo, one pixel to the left
fm_shift = fmwidget.extract(model, x_shift)

a, b = fm["edges"][0], fm_shift["edges"][0]
# equivariance: the shifted maps are the original maps moved by one column (inside the border)
assert np.allclose(b[:, 1:-2], a[:, 2:-1], atol=1e-5)
print("edges maps of the shifted photo = original maps moved one column: True")

tol = 0.1 * a.max(axis=(0, 1))  # per map
stats = {}
for name in ["edges", "pool", "pool2"]:
    a, b = fm[name][0], fm_shift[name][0]
    change = np.linalg.norm(a - b) / np.linalg.norm(a)
    active = (a > tol) | (b > tol)
    stable = ((np.abs(a - b) <= tol) & active).sum() / active.sum()
    stats[name] = (change, stable)
    print(f"{name:>6} {str(a.shape):>13}: relative change {change:5.1%}, "
          f"active cells within 10%: {stable:5.1%}")

assert stats["pool"][0] < stats["edges"][0] and stats["pool2"][0] < stats["pool"][0]
assert stats["pool"][1] > stats["edges"][1] and stats["pool2"][1] > stats["pool"][1]

# %% [markdown]
# ## The same experiment in the widget: compare two inputs
#
# `w.compare(x2)` runs a second input B through the model and opens the widget's
# **compare** view: one bar per layer with its relative change ‖B − A‖ / ‖A‖ (pooling
# layers in blue), under them one sentence per pooling layer saying whether it changed
# less than the layer it pools, and, for the layer you click, A, B and B − A side by side.
# `w.compare(shift=(dy, dx))` makes B itself: this input moved `dy` pixels down and `dx`
# right, with zeros coming in at the border. The "B = A shifted by dy, dx" control in the
# view does the same from the browser: try other shifts.
#
# Below, B is first the photo moved one pixel to the **right** (zeros come in on the
# left), then our photo moved one pixel to the left; the widget shows the second, whose
# bars are exactly the relative changes printed above. Both tell the same story:
#
# * the raw pixels change by about 20%: neighbouring pixels of a photo are similar;
# * the edge maps change **more than three times as much**: an edge map is made of
#   thin lines, and a thin line moved by one pixel hardly overlaps where it was;
# * each pooling layer changes **less than the layer it pools**;
# * but even after two poolings the maps change more than the pixels did: pooling
#   dampens the effect of a shift, it does not remove it.
#
# Click the `edges` bar and look at B − A: the edges show up as pairs of lines of
# opposite sign (the two ends of the diverging scale), where a line left and where it
# arrived. Nothing is created or lost, only moved: in each map the positive and negative
# parts of B − A cancel to within 5% of its total.

# %%
w_cmp = fmwidget.FeatureMapWidget(model, x, layer="edges")
right = {c["layer"]: c["change"] for c in w_cmp.compare(shift=(0, 1))}
left = {c["layer"]: c["change"] for c in w_cmp.compare(x_shift, label="the photo moved left")}
print("relative change   one pixel right   one pixel left")
for name in left:
    print(f"{name:>15}   {right[name]:15.1%}   {left[name]:14.1%}")
for name in ["edges", "pool", "pool2"]:
    assert abs(left[name] - stats[name][0]) < 1e-5  # the bars are the figures computed above
for changes in (right, left):
    assert 0.15 < changes["input"] < 0.25  # about 20%
    assert changes["edges"] > 3 * changes["input"]  # the edge maps change most
    assert changes["pool"] < changes["edges"] and changes["pool2"] < changes["pool"]
    assert changes["pool2"] > changes["input"]  # still more than the pixels
assert w_cmp.view == "compare" and w_cmp.comparison["label"] == "the photo moved left"
d = fm_shift["edges"][0] - fm["edges"][0]  # B - A of the edges maps, as the view shows it
balance = np.abs(d.sum(axis=(0, 1))) / np.abs(d).sum(axis=(0, 1))
print("edges, |sum of B - A| / sum of |B - A| per map:", np.round(balance, 3))
assert (balance < 0.05).all()  # as much arrives as leaves
w_cmp

# %% [markdown]
# The numbers above are the honest picture: a single 2×2 pooling does not make the
# maps shift-invariant, it makes them *less sensitive* to small shifts, and each further
# pooling stage makes them less sensitive still. That is why CNNs stack several.
#
# ## Cell by cell
#
# Find a pooled cell of map 0 whose winner moved one column inside its window, so the
# pooled value is unchanged. The two widgets below show the original and the shifted
# photo with that cell traced: edges cell → ReLU → pooling window with the winner
# highlighted. Compare the *winner* coordinates in the two trace panels.

# %%
found = None
pool_a, pool_b = fm["pool"][0, :, :, 0], fm_shift["pool"][0, :, :, 0]
for r, c in np.argwhere(pool_a > 0.5 * pool_a.max()):
    r, c = int(r), int(c)
    if 1 <= c < 62:
        sa = fm.pool_source("pool", (r, c), 0)
        sb = fm_shift.pool_source("pool", (r, c), 0)
        if sb == (sa[0], sa[1] - 1) and pool_a[r, c] == pool_b[r, c]:
            found = (r, c, sa, sb)
            break
assert found is not None
r, c, sa, sb = found
print(f"pool({r}, {c}), map 0: winner {sa} in the original, {sb} in the shifted photo;"
      f" value {pool_a[r, c]:.4f} in both")

from fmwidget.trace import trace

for label, maps in [("original", fm), ("shifted ", fm_shift)]:
    steps = trace(maps, "pool", 0, (r, c))["steps"]
    print(label, " -> ".join(f"{s['layer']}{'(pre)' if s.get('pre_activation') else ''}"
                             f"[{s['row']},{s['col']}]={s['value']:.3f}" for s in steps))

# %%
target = {"layer": "pool", "filter": 0, "row": r, "col": c}
w_orig = fmwidget.FeatureMapWidget(model, x, layer="pool", view="grid")
w_shift = fmwidget.FeatureMapWidget(model, x_shift, layer="pool", view="grid")
w_orig.trace_target = target
w_shift.trace_target = target
display(w_orig, w_shift)

# %% [markdown]
# **Takeaways.** A filter is a pattern detector: its map is bright exactly where the
# image contains its pattern. Max pooling keeps the depth (one pooled map per map),
# halves the size, and keeps the strongest response in each window, so a small shift of
# the image often leaves the pooled value unchanged. Next:
# [3 · A trained network](03_trained_network.ipynb), where the filters are learned.
