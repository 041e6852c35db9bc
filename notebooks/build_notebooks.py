# ruff: noqa: E501, RUF001  (the notebook prose uses unicode signs and long markdown lines)
"""Writes the four teaching notebooks notebooks/01_*.ipynb … 04_*.ipynb (no outputs).

The .ipynb files are committed; edit this script, not the notebooks, then run::

    python notebooks/build_notebooks.py

Every claim the prose makes is checked by an ``assert`` in a code cell next to it, so
``tests/notebooks`` fails if a claim stops being true.
"""

from __future__ import annotations

import pathlib
import textwrap

import nbformat

HERE = pathlib.Path(__file__).resolve().parent

SETUP = """\
import os
os.environ.setdefault("KERAS_BACKEND", "jax")  # CI sets KERAS_BACKEND=tensorflow; both work

import keras
import numpy as np

import fmwidget
"""

# Small image montages without matplotlib: numpy -> PNG via Pillow (a scikit-image dependency).
MONTAGE = '''\
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
'''


def md(text: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_markdown_cell(textwrap.dedent(text).strip())


def code(*parts: str) -> nbformat.NotebookNode:
    """A code cell; each part is dedented on its own, then the parts are joined."""
    text = "\n".join(textwrap.dedent(p).strip("\n") for p in parts)
    return nbformat.v4.new_code_cell(text.strip())


def notebook(cells: list[nbformat.NotebookNode]) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.metadata["language_info"] = {"name": "python"}
    nb.cells = cells
    return nb


# ---------------------------------------------------------------------------------------------
NB1 = [
    md("""
    # 1 · What a Conv2D layer outputs

    A convolutional layer holds a small stack of **filters** (here 3×3 each). Every filter
    slides over the whole image and, at each position, computes one number: the weighted
    sum of the 3×3 pixels under it plus a bias. Doing that everywhere gives one 2-D
    **feature map** per filter. Stack the maps and you get a **volume**:
    height × width × number of filters.

    In this notebook:

    1. a 28×28×1 image through `Conv2D(32, 3, padding="same")` gives a **28×28×32** volume;
    2. one map is recomputed by hand, to see there is no magic;
    3. a second Conv2D reads **all 32 maps at once**: depth is what the next layer sees;
    4. the widget shows all 32 maps; hover one to read values and see the 3×3 patch it came from.
    """),
    code(
        SETUP,
        """
    from skimage.transform import resize
    from sklearn.datasets import load_digits

    keras.utils.set_random_seed(0)
    # A real handwritten "3" (8x8, values 0..16 in scikit-learn), resized to MNIST's 28x28.
    digits = load_digits()
    digit = digits.images[digits.target == 3][0] / 16.0
    x = resize(digit, (28, 28), order=1).astype("float32")[..., None]
    print("input image:", x.shape, "min", x.min(), "max", round(float(x.max()), 3))
    """,
    ),
    md("""
    ## One Conv2D layer, 32 filters

    The filters are still random (nothing is trained in this notebook): we look at *what
    shape* the output has and *how* each number is made, not at what the filters detect.
    That comes in notebooks 2 and 3.
    """),
    code("""
    L = keras.layers
    model = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            L.Conv2D(32, 3, padding="same", name="conv"),
            L.Conv2D(16, 3, padding="same", name="conv2"),
        ],
        name="two_convs",
    )
    kernel, bias = model.get_layer("conv").get_weights()
    print("conv kernel:", kernel.shape, " = (rows, cols, input channels, filters)")
    print("conv bias:  ", bias.shape)
    print("parameters: ", kernel.size + bias.size, "= 3*3*1*32 weights + 32 biases")
    assert kernel.shape == (3, 3, 1, 32) and kernel.size + bias.size == 320
    """),
    md("""
    ## The output volume: one map per filter

    `fmwidget.extract` runs the image through the model once and keeps every layer's output
    as a numpy array (batch first). With `padding="same"` Keras pads the border with zeros
    so each map keeps the input's 28×28 size.
    """),
    code("""
    fm = fmwidget.extract(model, x)
    print(fm)
    print("conv output:", fm["conv"].shape, "= (batch, rows, cols, filters)")
    assert fm["conv"].shape == (1, 28, 28, 32)  # 28x28x1 in, 28x28x32 out: one map per filter

    # Without padding the 3x3 window fits only 26 times across 28 pixels:
    valid = keras.Sequential([keras.Input((28, 28, 1)), L.Conv2D(32, 3, padding="valid")])
    print("same padding:", fm["conv"].shape[1:], "  valid padding:", tuple(valid(x[None]).shape[1:]))
    assert tuple(valid(x[None]).shape) == (1, 26, 26, 32)
    """),
    md("""
    ## No magic: recompute one map by hand

    Feature map *k* at row *r*, column *c* is
    `sum(patch(r, c) * kernel[:, :, 0, k]) + bias[k]`, where `patch(r, c)` is the 3×3
    window of the zero-padded image centred on (r, c). Below, a plain numpy loop gives the
    same 784 numbers Keras computed for filter 5.
    """),
    code("""
    k = 5
    padded = np.pad(x[..., 0], 1)  # the zeros 'same' padding adds
    by_hand = np.array(
        [[(padded[r : r + 3, c : c + 3] * kernel[:, :, 0, k]).sum() + bias[k] for c in range(28)]
         for r in range(28)]
    )
    diff = np.abs(by_hand - fm["conv"][0, :, :, k]).max()
    print(f"largest difference between numpy and Keras for filter {k}: {diff:.2e}")
    assert diff < 1e-5

    # Which input pixels does the cell (10, 10) of any conv map depend on?  A 3x3 patch:
    print("receptive field of conv(10, 10):", fm.receptive_field("conv", (10, 10)))
    print("receptive field of conv(0, 0):  ", fm.receptive_field("conv", (0, 0)), "(the rest is padding)")
    assert fm.receptive_field("conv", (10, 10)) == (slice(9, 12), slice(9, 12))
    assert fm.receptive_field("conv", (0, 0)) == (slice(0, 2), slice(0, 2))
    """),
    md("""
    ## Depth: the next layer reads all 32 maps at once

    `conv2` has 16 filters, but each of them is 3×3×**32**: one 3×3 slice per map of
    `conv`. A cell of `conv2` is a sum of 32 contributions (one per input map) plus a bias.
    `fmwidget.trace.conv_arithmetic` lists those contributions for one cell, and their
    sum is the value Keras produced. A second layer's receptive field is larger: 5×5 pixels.
    """),
    code("""
    from fmwidget.trace import conv_arithmetic

    print("conv2 kernel:", model.get_layer("conv2").get_weights()[0].shape)
    assert model.get_layer("conv2").get_weights()[0].shape == (3, 3, 32, 16)

    sums = conv_arithmetic(fm, "conv2", 0, (14, 14), top=32)
    total = sum(t["contribution"] for t in sums["terms"]) + sums["bias"]
    print(f"conv2 filter 0 at (14, 14) = {fm['conv2'][0, 14, 14, 0]:.4f}")
    print(f"  = sum of {sums['n_channels']} per-map contributions + bias = {total:.4f}")
    for t in sums["terms"][:4]:
        print(f"    from conv map {t['channel']:2d}: {t['contribution']:+.4f}")
    print("    ...")
    assert sums["n_channels"] == 32
    assert abs(total - fm["conv2"][0, 14, 14, 0]) < 1e-4
    print("receptive field of conv2(14, 14):", fm.receptive_field("conv2", (14, 14)))
    assert fm.receptive_field("conv2", (14, 14)) == (slice(12, 17), slice(12, 17))
    """),
    md("""
    ## See them all, hover one

    The widget below shows every map of `conv` in a grid (32 tiles, 28×28 each).

    * **Hover** a tile: the read-out gives the filter, the cell and its value, and the
      outline on the input image marks the 3×3 patch that produced it. Near the edge of the
      image the outline is clipped: the rest of the window was padding.
    * The maps are **signed** (no activation yet), so the colour scale diverges around 0.
    * **Click** a tile to enlarge it; shift/ctrl-click to compare several.
    * The strip at the top lists the layers; pick `conv2` and compare.
    """),
    code("""
    w = fmwidget.FeatureMapWidget(model, x, layer="conv")
    w.selected_filters = [5]  # the map recomputed by hand above, shown large
    w
    """),
    md("""
    What you hover and select flows back to Python. Hover a map above, then run this cell
    (it prints `None` until you do; in a headless run nobody hovers):
    """),
    code("""
    print("hover:", w.hover)
    print("selected filters:", w.selected_filters)
    """),
    md("""
    **Takeaways.** A filter is a small set of weights; sliding it over the image gives one
    feature map. *N* filters give *N* maps, stacked into a volume of depth *N*; the next
    layer's filters are as deep as that volume and mix all the maps. Next:
    [2 · Edges by hand](02_edges_by_hand.ipynb) sets the weights ourselves, so we know
    what each map should light up on.
    """),
]

# ---------------------------------------------------------------------------------------------
NB2 = [
    md("""
    # 2 · Edges by hand, then max pooling

    A trained network learns its filters, but nothing stops us from writing them ourselves.
    Here a `Conv2D` gets four hand-made 3×3×3 filters (for RGB images):

    | filter | weights | lights up where … |
    |---|---|---|
    | 0 vertical edge | Sobel, left −, right + (all colours) | it gets brighter from left to right |
    | 1 horizontal edge | Sobel, top −, bottom + | it gets brighter from top to bottom |
    | 2 colour edge | Sobel on (red − blue) | colour turns from blue to red, left to right, *even at equal brightness* |
    | 3 texture | checkerboard of +1 and −1.25 | there is a fine checkerboard-like texture |

    The weights of every filter sum to zero, so a flat, uniform region gives 0: only
    *change* in the image makes a filter respond.

    A ReLU keeps the positive responses (the pattern *in this direction*). Then
    `MaxPooling2D(2)`: each 2×2 window of a map is replaced by its largest value.
    """),
    code(
        SETUP,
        """
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


    print("filter 0 (one colour channel):\\n", kernel[:, :, 0, 0] * 3)
    """,
    ),
    md("""
    ## Test cards: does each filter fire on its own pattern, and only there?

    Four 32×32 test images with one pattern each, exactly at known places: a vertical
    brightness edge between columns 15 and 16, a horizontal one between rows 15 and 16, a
    blue→red edge between columns 15 and 16 (both colours equally bright), and a 1-pixel
    checkerboard. The table gives each filter's strongest response on each card (we skip
    the outermost ring of pixels: there `same` padding adds zeros, which look like an edge
    to the filters).
    """),
    code("""
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
    print("\\nthe brightness filters ignore the pure colour edge:", table[0, 2], table[1, 2])
    """),
    md("""
    … and *where* do they fire? Exactly on the edge: the vertical filter's strong cells
    (more than half its maximum) are all in columns 15 and 16, the two columns whose 3×3
    window straddles the edge. Likewise rows 15–16 for the horizontal edge.
    """),
    code("""
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
    """),
    md("""
    In the widget: the first card (change `sample=` to 1, 2, 3 for the others). Hover the
    bright line in map 0: the outline on the input sits on the edge.
    """),
    code("""
    fmwidget.FeatureMapWidget(card_model, cards, layer="edges", sample=0)
    """),
    md("""
    ## On real photos

    `skimage.data` ships real photos (no download). Filter 0 is the classic **Sobel**
    edge detector: before the ReLU its map matches `skimage.filters.sobel_v`, written
    independently, to a correlation of 1.000 (away from the border, where the two pad
    differently).
    """),
    code("""
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
    """),
    md("""
    Look at the four maps: map 0 lights up on the vertical lines (the edge of the helmet,
    the flag's stripes), map 1 on the horizontal ones, map 2 on the red/blue
    boundaries of the flag and suit patches, map 3 on fine texture. Hover a bright spot and
    check the outline on the photo.
    """),
    code("""
    w = fmwidget.FeatureMapWidget(model, x, layer="edges")
    w
    """),
    md("""
    ## Max pooling: half the size, same depth, strongest response kept

    `MaxPooling2D(2)` looks at each map separately, in 2×2 windows that do not overlap, and
    keeps the largest value. So the height and width halve, the number of maps (the
    depth) stays 4, and each pooled cell equals the maximum of its window.
    `fm.pool_window` gives the window, `fm.pool_source` the cell that won.
    """),
    code("""
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
    """),
    md("""
    ## Shift the photo by one pixel

    Now move the photo one pixel to the left and run it again. The convolution is
    **translation-equivariant**: its maps move with the image, pixel for pixel. But that
    means that, compared *at the same position*, almost every edge cell changes. Pooling
    helps: a 2×2 window holds on to its maximum as long as the winner stays inside
    the window, so many pooled cells keep exactly the same value. A second pooling helps
    more. We measure two things for each layer, comparing original and shifted maps at the
    same positions:

    * the **relative change** ‖shifted − original‖ / ‖original‖;
    * among the active cells (above 10% of that map's maximum), the fraction that stayed
      **within 10%** of it.
    """),
    code("""
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
    """),
    md("""
    The numbers above are the honest picture: a single 2×2 pooling does not make the
    maps shift-invariant, it makes them *less sensitive* to small shifts, and each further
    pooling stage makes them less sensitive still. That is why CNNs stack several.

    ## Cell by cell

    Find a pooled cell of map 0 whose winner moved one column inside its window, so the
    pooled value is unchanged. The two widgets below show the original and the shifted
    photo with that cell traced: edges cell → ReLU → pooling window with the winner
    highlighted. Compare the *winner* coordinates in the two trace panels.
    """),
    code("""
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
    """),
    code("""
    target = {"layer": "pool", "filter": 0, "row": r, "col": c}
    w_orig = fmwidget.FeatureMapWidget(model, x, layer="pool")
    w_shift = fmwidget.FeatureMapWidget(model, x_shift, layer="pool")
    w_orig.trace_target = target
    w_shift.trace_target = target
    display(w_orig, w_shift)
    """),
    md("""
    **Takeaways.** A filter is a pattern detector: its map is bright exactly where the
    image contains its pattern. Max pooling keeps the depth (one pooled map per map),
    halves the size, and keeps the strongest response in each window, so a small shift of
    the image often leaves the pooled value unchanged. Next:
    [3 · A trained network](03_trained_network.ipynb), where the filters are learned.
    """),
]

# ---------------------------------------------------------------------------------------------
NB3 = [
    md("""
    # 3 · A trained network: from strokes to parts of digits

    We train a small CNN on real handwritten digits (1797 of them ship with scikit-learn)
    in a few seconds, then look inside:

    * the first convolution sees 3×3 pixels: its filters respond to **strokes and their
      edges**;
    * after pooling, the second convolution sees 8×8 pixels and **combines** the first
      layer's maps into detectors for larger parts of a digit;
    * finally, we **trace** one pooled activation back to the pixels that caused it, and
      prove that no other pixel matters.
    """),
    code(
        SETUP,
        MONTAGE,
        """
    import time

    from sklearn.datasets import load_digits

    keras.utils.set_random_seed(0)
    digits = load_digits()
    # 8x8 digits with values 0..16, scaled to [0, 1] and enlarged 3x so the maps are readable.
    images = np.kron(digits.images / 16.0, np.ones((3, 3)))[..., None].astype("float32")
    labels = digits.target
    train, test = slice(0, 1500), slice(1500, None)
    print(images.shape, "images;", "train", images[train].shape[0], "test", images[test].shape[0])
    """,
    ),
    code("""
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
    """),
    md("""
    ## Each layer sees a bigger patch

    A cell's **receptive field** is the set of input pixels it depends on. It grows layer by
    layer: 3×3 for `conv1`, 4×4 after pooling, 8×8 for `conv2`, 10×10 after the second
    pooling. At the same time the maps get smaller and deeper.
    """),
    code("""
    x = images[1500]
    fm = fmwidget.extract(model, x)
    sizes = {}
    for name in ["conv1", "pool1", "conv2", "pool2"]:
        h, w_, c = fm[name].shape[1:]
        rows, cols = fm.receptive_field(name, (h // 2, w_ // 2))
        sizes[name] = (rows.stop - rows.start, cols.stop - cols.start)
        print(f"{name}: maps {h}x{w_}, {c} of them; one cell sees {sizes[name][0]}x{sizes[name][1]} pixels")
    assert sizes == {"conv1": (3, 3), "pool1": (4, 4), "conv2": (8, 8), "pool2": (10, 10)}
    """),
    md("""
    ## What do the filters respond to?

    A simple way to find out: over 200 test digits, collect the input patches that make
    each filter respond most, and average the top 20 (cells whose patch lies fully inside
    the image). For `conv1` a patch is 3×3 pixels, for `conv2` 8×8. White = ink, black =
    paper.
    """),
    code("""
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
    """),
    md("""
    Every `conv1` filter likes **ink**: its favourite 3×3 patch is a piece of stroke,
    either the inside of a stroke (all white) or a stroke's **edge** (ink on one side,
    paper on the other). The `conv2` patches are bigger and have a **shape**: ink and
    paper arranged as a bar, a corner, the end of a stroke, a gap. In numbers (a patch "has
    both" if it holds ink > 0.5 and paper < 0.25):
    """),
    code("""
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
    """),
    md("""
    ## Later filters combine earlier ones

    A `conv2` cell is a sum over all 8 maps of `pool1` (each through its own 3×3 slice of
    the filter). Take the strongest `conv2` cell of this digit and list how much each
    `pool1` map contributed: several earlier detectors add up to one later detection.
    """),
    code("""
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
    """),
    md("""
    ## Trace a pooled activation back to its pixels

    Pick the strongest cell of `pool2` for this digit. `fmwidget.trace.trace` walks back:
    the pooled value came from one `conv2` cell (the winner of its 2×2 window), which is
    the ReLU of a weighted sum, which read a 10×10 patch of the digit.
    """),
    code("""
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
    """),
    md("""
    Is the receptive field really the whole story? Replace every pixel **outside** it by
    random noise: the pooled value does not move. Replace the pixels **inside** it: it does.
    """),
    code("""
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
    """),
    md("""
    The same trace in the widget: the trace panel lists each step with its value and the
    pooling window with the winner; the conv step shows the weighted sum term by term; the
    outline on the digit is the receptive field. Click any other cell (or press Enter on a
    focused one) to trace it instead; switch layers in the strip at the top to see
    `conv1`'s stroke maps next to `conv2`'s part maps.
    """),
    code("""
    w = fmwidget.FeatureMapWidget(model, x, layer="pool2")
    w.trace_target = {"layer": "pool2", "filter": f, "row": r, "col": c}
    w
    """),
    md("""
    **Takeaways.** Early filters look at a few pixels and find strokes and edges; each
    later layer sees a bigger patch and combines the maps before it into larger parts.
    Any activation can be traced back to exactly the pixels that caused it. Next:
    [4 · Your own model](04_your_own_model.ipynb).
    """),
]

# ---------------------------------------------------------------------------------------------
NB4 = [
    md("""
    # 4 · Your own model

    fmwidget works with any Keras 3 model with one image input: Sequential, Functional,
    nested or subclassed, on the JAX, TensorFlow or PyTorch backend. Here:

    1. a model from `keras.applications` (MobileNetV2): with ImageNet weights when this
       machine can download them, otherwise the same architecture with random weights;
    2. how the maps change through a real architecture: smaller, deeper, seeing more;
    3. `fmwidget.extract` for your own plots and numbers;
    4. a small model of your own, with a skip connection.
    """),
    code(
        SETUP,
        MONTAGE,
        """
    import socket
    import threading

    from skimage import data, transform
    """,
    ),
    md("""
    ## ImageNet weights, or a clear offline fallback

    Keras downloads pretrained weights from `storage.googleapis.com`. On a machine without
    internet that request can hang for a long time, so we first check, with a short
    timeout, whether the server is reachable at all; if not, we build the same
    architecture with `weights=None` (random filters) and say so.
    """),
    code("""
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
    """),
    code("""
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
    """),
    md("""
    ## Smaller, deeper, seeing more

    Walk through the convolutions: the strided ones halve the maps, the number of maps
    grows, and the receptive field of a central cell grows until one cell sees the whole
    96×96 photo (the field is clipped to the image).
    """),
    code("""
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
    """),
    md("""
    ## The widget on a big model

    156 layers: pick one in the strip (convolutions, batch norms, ReLU6 activations, the
    `Add` of each residual block). `expanded_conv_project` is early, `block_6_project` is
    halfway; hover a cell to see how much of the cat it sees.
    """),
    code("""
    w = fmwidget.FeatureMapWidget(model, x, layer="Conv1_relu" if "Conv1_relu" in fm else None)
    w
    """),
    md("""
    ## `fmwidget.extract` for your own plots

    `fm[name]` is a plain numpy array, so any analysis is a few lines. Two examples: the
    8 most active maps after the first convolution (highest mean activation), shown as
    images, and, after every ReLU6, the fraction of maps that are **silent** (zero
    everywhere) for this photo: a silent map's filter found nothing it responds to.
    """),
    code("""
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
    """),
    md("""
    ## A model of your own

    Anything goes: here a small Functional model with a **skip connection** (`Add`) and
    a `Conv2D` with stride 2. fmwidget follows the graph, so receptive fields are exact
    through both branches: the `add` cell sees the union of what each branch sees.
    """),
    code("""
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
    fmwidget.FeatureMapWidget(mine, photo.astype("float32"), layer="add")
    """),
    md("""
    **Takeaways.** The same ideas scale to real architectures: maps shrink, depth grows,
    each cell sees more of the image until it sees all of it. Use the widget to explore and
    `fmwidget.extract` for numbers and plots of your own.
    """),
]


def main() -> None:
    for name, cells in [
        ("01_conv_layer_output.ipynb", NB1),
        ("02_edges_by_hand.ipynb", NB2),
        ("03_trained_network.ipynb", NB3),
        ("04_your_own_model.ipynb", NB4),
    ]:
        nbformat.write(notebook(cells), str(HERE / name))
        print("wrote", HERE / name)


if __name__ == "__main__":
    main()
