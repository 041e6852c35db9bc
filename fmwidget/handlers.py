"""The kernel's side of the browser's custom messages: one answer per request.

Every request is checked first (:func:`fmwidget.messages.check_request`); anything
malformed, and anything that raises while answering, gets an ``error`` reply with the
request's id, so the kernel never raises on a browser message. Layers go out in parts
(:func:`fmwidget.encode.layer_parts`); the shown layer's first part is pushed unasked
right after the widget is made (:func:`push_first_part`).
"""

from __future__ import annotations

import contextlib
from typing import Any

from . import encode
from .compare import compare_reply
from .drawn import answer_set_input
from .encode import layer_parts
from .example_wire import examples_message
from .messages import MAX_ERROR_CHARS, Widget, check_request, json_safe, request_id_of
from .overlays import GRADIENT_REQUESTS
from .overlays import answer as gradient_answer
from .overview import thumbs_message
from .replies import layer_reply
from .trace import trace


def answer(w: Widget, content: Any, buffers: Any) -> None:
    """Answers one browser request; anything malformed gets an ``error`` reply."""
    request_id = request_id_of(content)
    try:
        if isinstance(content, dict) and content.get("type") == "set_input":
            answer_set_input(w, content, buffers)  # the pen or an upload (binary pixels)
            return
        kind = check_request(content, buffers, w.data_version)
        if kind == "get_layer":
            reply, payload = layer_reply(w, content)
            first = content.get("first_channels")  # the grid's first screenful
            for part, data in layer_parts(reply, payload, first):  # each <= 64 MiB
                w.send(part, [data])
        elif kind == "get_examples":
            reply, buffers = examples_message(w.examples, content["layer"], content["channel"])
            reply.update(request_id=request_id, version=w.data_version)
            w.send(reply, buffers)
        elif kind in GRADIENT_REQUESTS:
            header, data = gradient_answer(w, kind, content)
            w.send(json_safe(header), [data])
        elif kind == "get_thumbs":
            w.send(*thumbs_reply(w, content))
        elif kind == "get_compare":
            w.send(*compare_reply(w, content))
        else:
            w.send(trace_reply(w, content))
    except Exception as err:  # never let a browser message raise in the kernel
        send_error(w, err, request_id)


def push_first_part(w: Widget) -> None:
    """Sends the shown layer's first message unasked (``request_id`` null), in the grid.

    It reaches the browser right behind the widget's state, so the view paints it as it
    renders, a round trip before its own request is answered (see encode.WireFormat).
    """
    if not encode.WIRE.push_first or w.view != "grid":
        return  # the overview asks for thumbnails, not a layer
    with contextlib.suppress(Exception):  # no map to show, or no frontend: nothing lost
        reply, payload = layer_reply(w, {"layer": w.layer})
        part, data = next(layer_parts(reply, payload))
        w.send(part, [data])


def send_error(w: Widget, err: BaseException | str, request_id: int | None = None) -> None:
    """An ``error`` message (at most ``MAX_ERROR_CHARS``) for ``request_id`` (None: unasked)."""
    text = str(err) or type(err).__name__
    if len(text) > MAX_ERROR_CHARS:
        text = text[: MAX_ERROR_CHARS - 1] + "\u2026"
    with contextlib.suppress(Exception):  # e.g. the comm is gone: nothing left to tell
        w.send({"type": "error", "request_id": request_id, "message": text})


def trace_reply(w: Widget, content: dict[str, Any]) -> dict[str, Any]:
    """The ``trace`` message for a ``get_trace`` request's cell."""
    info = w.fm.info(content.get("layer"))  # type: ignore[arg-type]
    row, col, depth = content.get("row"), content.get("col"), content.get("depth")
    rank = len(info.spatial_shape or ())
    if rank == 3 and depth is None:
        raise ValueError(
            f"Expected a depth with the row and col of a cell of {info.name!r}, whose maps are "
            f"3-D {tuple(info.spatial_shape or ())}; received row {row}, col {col} only."
        )
    position = (col,) if rank == 1 else (depth, row, col) if rank == 3 else (row, col)
    result = trace(w.fm, info.name, content.get("filter"), position, w.sample)
    return json_safe(
        {
            "type": "trace",
            "request_id": content.get("request_id"),
            "version": w.data_version,
            "layer": info.name,
            **result,
        }
    )


def thumbs_reply(w: Widget, content: dict[str, Any]) -> tuple[dict[str, Any], list[bytes]]:
    """The ``thumbs`` message (header and one buffer) for a ``get_thumbs`` request."""
    names = [w.fm.info(n).name for n in content["layers"]]  # unknown names raise
    reply, payload = thumbs_message(w.fm, w.sample, names)
    reply.update(request_id=content.get("request_id"), version=w.data_version)
    return reply, [payload]
