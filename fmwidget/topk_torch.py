"""PyTorch's version of :func:`fmwidget.topk.score`: the same reduction and merge in torch.

On PyTorch the step runs eagerly, and each ``keras.ops`` call costs tens of microseconds
of Python (argument conversion, symbolic-tensor checks) beside its work; the ~60 calls of
:func:`fmwidget.topk.score` per batch were about half of the step's cost beyond the forward
pass on a small CNN. Here each map takes one whole-map max pooling (values and first
cells together, :func:`channel_max`), and the merge, one stable sort, runs once for up to
:data:`MERGE_EVERY` batches (:class:`Carry`). Same order and results as the ``keras.ops``
version: valid entries first, then the larger value, then the earlier entry (the state's,
then the batches' rows in sample order); the first maximum in row-major order inside a
map; NaN never wins."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

_EMPTY_KEY = torch.iinfo(torch.int32).min


def channel_max(y: torch.Tensor, data_format: str) -> tuple[torch.Tensor, torch.Tensor]:
    """``(maxima, cells)``, both ``(B, C)``: the spatial maximum and its first flat cell
    (int64, row-major).

    A max pooling whose window is the whole map: PyTorch's pooling kernels read a
    channels-last map in place, vectorised over channels, twice as fast as ``max(dim)``
    on its reshape, and keep the first cell among equal maxima (they replace the running
    maximum only on a greater value; tested against numpy's ``argmax``). Maps of more
    than three spatial axes take ``max(dim)``, which documents that tie order.
    """
    b = y.shape[0]
    if data_format == "channels_last":
        y = y.movedim(-1, 1)  # a view: (B, C, *spatial)
    y = y.float()
    pool = _WHOLE_MAP_POOL.get(y.ndim - 2)
    if pool is not None:
        top, cells = pool(y, tuple(y.shape[2:]), return_indices=True)
        return top.reshape(b, -1), cells.reshape(b, -1)
    return y.reshape(b, y.shape[1], -1).max(dim=2)


_WHOLE_MAP_POOL = {
    1: torch.nn.functional.max_pool1d,
    2: torch.nn.functional.max_pool2d,
    3: torch.nn.functional.max_pool3d,
}


def batch_scores(maps: list[tuple[Any, str]], ids: Any) -> tuple[torch.Tensor, ...]:
    """One batch's entries for :func:`merge`: maxima ``(B, sum C)``, their cells, and the
    batch's sample indices ``(B,)``."""
    tops, cells = zip(*(channel_max(y, data_format) for y, data_format in maps), strict=True)
    return torch.cat(tops, 1), torch.cat(cells, 1), ids


def merge(state: list[Any], entries: list[tuple[torch.Tensor, ...]], k: int) -> list[Any]:
    """``state`` (values, indices, cells) merged with batches' :func:`batch_scores`, given
    in sample order; see :func:`fmwidget.topk.score`."""
    values, indices, cells = state
    top = torch.cat([e[0] for e in entries]).T  # (sum C, batches x B)
    cell = torch.cat([e[1] for e in entries]).T.int()
    ids = torch.cat([e[2] for e in entries]).int()[None, :].expand(top.shape[0], -1)
    nan = torch.isnan(top)
    top = torch.where(nan, float("-inf"), top)
    top = torch.where(top == 0, 0.0, top)  # -0.0 and 0.0 are one value
    cell = torch.where(nan, 0, cell)
    all_values = torch.cat([values, top], 1)
    all_ids = torch.cat([indices.int(), ids], 1)
    all_cells = torch.cat([cells.int(), cell], 1)
    # An int32 key that orders like the float32 value, empty entries below all (-inf too);
    # a stable sort keeps concatenation order among equal keys.
    bits = all_values.view(torch.int32)
    key = torch.where(bits < 0, bits ^ 0x7FFFFFFF, bits)
    key = torch.where(all_ids < 0, _EMPTY_KEY, key)
    order = torch.sort(key, dim=1, descending=True, stable=True).indices[:, :k]
    return [all_values.gather(1, order), all_ids.gather(1, order), all_cells.gather(1, order)]


def score(
    maps: list[tuple[Any, str]], ids: Any, values: Any, indices: Any, cells: Any, k: int
) -> list[torch.Tensor]:
    """One batch's maps merged into the running top-k; see :func:`fmwidget.topk.score`."""
    return merge([values, indices, cells], [batch_scores(maps, ids)], k)


@dataclass(frozen=True)
class Carry:
    """The running state and the batches' entries not merged into it yet.

    Each merge costs ~20 small ops of Python dispatch whatever its size, so batches are
    merged ``MERGE_EVERY`` at a time (or when the state is read): one sort over more
    entries is cheaper than several.
    """

    state: list[Any]
    pending: tuple[tuple[torch.Tensor, ...], ...] = ()

    def push(self, entries: tuple[torch.Tensor, ...], k: int, flush: bool) -> Carry:
        pending = (*self.pending, entries)
        if flush or len(pending) >= MERGE_EVERY:
            return Carry(merge(self.state, list(pending), k))
        return Carry(self.state, pending)

    def merged(self, k: int) -> list[Any]:
        return merge(self.state, list(self.pending), k) if self.pending else self.state


#: Batches merged at a time (at most).
MERGE_EVERY = 8
