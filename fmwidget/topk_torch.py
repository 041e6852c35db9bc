"""PyTorch's version of :func:`fmwidget.topk.score`: the same reduction and merge in torch.

On PyTorch the step runs eagerly, and each ``keras.ops`` call costs tens of microseconds
of Python (argument conversion, symbolic-tensor checks) beside its work; the ~60 calls of
:func:`fmwidget.topk.score` per batch were about half of the step's cost beyond the forward
pass on a small CNN. Here each map takes one ``max`` (values and first indices together)
and the merge one stable sort. Same order and results as the ``keras.ops`` version: valid
entries first, then the larger value, then the earlier entry (the state's, then the batch's
rows in sample order); the first maximum in row-major order inside a map (documented for
``torch.max``); NaN never wins.
"""

from __future__ import annotations

from typing import Any

import torch

_EMPTY_KEY = torch.iinfo(torch.int32).min


def channel_max(y: torch.Tensor, data_format: str) -> tuple[torch.Tensor, torch.Tensor]:
    """``(maxima, cells)``, both ``(B, C)``: the spatial maximum and its first flat cell."""
    if data_format == "channels_last":
        y = y.movedim(-1, 1)
    top, cells = y.reshape(y.shape[0], y.shape[1], -1).float().max(dim=2)
    return top, cells.int()


def score(
    maps: list[tuple[Any, str]], ids: Any, values: Any, indices: Any, cells: Any, k: int
) -> list[torch.Tensor]:
    """One batch's maps merged into the running top-k; see :func:`fmwidget.topk.score`."""
    tops, positions = zip(*(channel_max(y, data_format) for y, data_format in maps), strict=True)
    top = torch.cat(tops, 1).T  # (sum C, B)
    cell = torch.cat(positions, 1).T
    nan = torch.isnan(top)
    top = torch.where(nan, float("-inf"), top)
    top = torch.where(top == 0, 0.0, top)  # -0.0 and 0.0 are one value
    cell = torch.where(nan, 0, cell)
    batch_ids = ids.int()[None, :].expand(top.shape[0], -1)
    all_values = torch.cat([values, top], 1)
    all_ids = torch.cat([indices.int(), batch_ids], 1)
    all_cells = torch.cat([cells.int(), cell], 1)
    # An int32 key that orders like the float32 value, empty entries below all (-inf too);
    # a stable sort keeps concatenation order among equal keys.
    bits = all_values.view(torch.int32)
    key = torch.where(bits < 0, bits ^ 0x7FFFFFFF, bits)
    key = torch.where(all_ids < 0, _EMPTY_KEY, key)
    order = torch.sort(key, dim=1, descending=True, stable=True).indices[:, :k]
    return [all_values.gather(1, order), all_ids.gather(1, order), all_cells.gather(1, order)]
