"""The effective receptive field (Luo et al. 2016): ``sum_c |d cell / dx_c|``.

How much each input pixel moves one cell, from one backward pass through the model (reached
by :mod:`fmwidget.probe`, differentiated by :mod:`fmwidget.gradients`). It is the method
``FeatureMaps.effective_receptive_field``: this module needs an extraction, not the module
that makes one, so :mod:`fmwidget.fields` imports it without an import circle.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import keras
import numpy as np

from .gradients import cached_value_and_grad, scaled_grads
from .probe import forward, layout_from
from .validation import check_index, check_position

if TYPE_CHECKING:
    from .maps import FeatureMaps

ops = keras.ops


def effective_receptive_field(
    fm: FeatureMaps, name: str, position: Any, channel: int | None = None, sample: int = 0
) -> np.ndarray:
    """How much each input pixel moves one cell: ``sum_c |d cell / d x_c|``.

    Use it as ``fm.effective_receptive_field(name, position)``. Its support lies inside the
    exact receptive field (``fm.receptive_field_mask``) and equals it when no ReLU on
    the way is dead and no max-pool drops the path; its values show that a cell weighs the
    centre of its field far more than the border.

    Args:
        fm: The extraction whose model and input to use.
        name: Layer name.
        position: The cell, e.g. ``(row, col)``; ``()`` for a layer that outputs a vector.
        channel: One channel of the cell; default: the sum over the layer's channels.
        sample: Which sample of ``fm``'s batch.

    Returns:
        float32 array with the input's spatial shape (not normalised).
    """
    layout = layout_from(fm)
    info = layout.info(name)
    sample = check_index(sample, fm.input.shape[0], "sample")
    if info.spatial_shape is None:
        if tuple(position or ()) != ():
            raise ValueError(
                f"Expected position () for {name!r}, which outputs a vector of shape "
                f"{info.shape}; received {position!r}."
            )
        pos: tuple[int, ...] = ()
    else:
        pos = check_position(position, info.spatial_shape, f"layer {name!r}")
    if channel is not None:
        channel = check_index(channel, info.channels or (info.shape or (1,))[-1], "channel")
    in_shape = layout.input_spatial(name)
    if info.layer is None:  # the input itself: each pixel sees itself only
        mask = np.zeros(in_shape, np.float32)
        mask[pos] = 1.0
        return mask
    # The cell is picked by a weight mask passed in, not by indexing: one compiled pass
    # serves every cell of the layer.
    first = info.data_format == "channels_first" and info.spatial_shape is not None
    index = (slice(None), *pos) if first else (*pos, slice(None))
    if channel is not None:
        index = (channel, *pos) if first else (*pos, channel)
    weight = np.zeros((1, *info.shape), np.float32)
    weight[(0, *index)] = 1.0

    def make(ref: Any) -> Any:
        def objective(xt: Any, weight: Any) -> tuple[Any, None]:
            _, outs = forward(ref(), layout, xt, stop=info)
            return ops.sum(ops.cast(outs[name], "float32") * weight), None

        return objective, (0,)

    fn = cached_value_and_grad(fm.model, ("erf", fm.input.shape[1:], name), make, keep=True)
    _, (grads,) = scaled_grads(fn, [fm.input[sample : sample + 1], weight], layout.float16)
    channel_axis = 1 if layout.input.data_format == "channels_first" else -1
    return np.abs(grads).sum(axis=channel_axis)[0].astype(np.float32)
