"""Grad-CAM and saliency carried by the static export, so its overlay menu works offline.

For a model that outputs class scores, the export embeds the kernel's ``overlay`` replies
(:func:`fmwidget.overlays.answer`, byte for byte) for the shown sample: Grad-CAM and
saliency of the top prediction, and of the widget's ``class_index`` when it names another
class. Effective receptive fields (one per hovered cell) and other classes need the kernel;
the page says so.
"""

from __future__ import annotations

from typing import Any

from .messages import json_safe
from .overlays import answer, class_count

#: Overlay modes embedded (the ERF depends on the hovered cell: not embedded).
EMBEDDED_MODES = ("grad_cam", "saliency")


def embedded_overlays(widget: Any, add_blob: Any) -> list[dict[str, Any]]:
    """One entry per (mode, class asked for): ``{"asked", "header", blob reference}``.

    ``asked`` is the ``class_index`` a request carries (``None``: the top prediction).
    A mode the model cannot be explained by (e.g. no class scores) is left out.
    """
    if class_count(widget) is None:
        return []
    asked_classes: list[int | None] = [None]
    if widget.class_index is not None:
        asked_classes.append(int(widget.class_index))
    out = []
    for mode in EMBEDDED_MODES:
        for asked in asked_classes:
            try:
                header, data = answer(widget, "get_overlay", {"mode": mode, "class_index": asked})
            except Exception:  # the kernel would answer with an error: the page says why
                continue
            header.pop("request_id", None)
            out.append({"asked": asked, "header": json_safe(header), **add_blob(data)})
    return out
