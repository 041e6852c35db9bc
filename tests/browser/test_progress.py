"""Progress in the real bundle: the kernel's ``status`` trait (set while ``set_input`` runs
the forward pass and summarises the layers) shows as text in ``.fmw-status`` with
``data-progress``, and disappears when cleared."""

from __future__ import annotations

from typing import Any

import pytest

from .helpers import HOSTILE

pytestmark = pytest.mark.browser


def status_line(h: Any) -> dict[str, Any]:
    return h.page.locator(".fmw-status").evaluate(
        "(el) => ({text: el.textContent, hidden: el.hidden, visible: el.offsetParent !== null,"
        " progress: el.dataset.progress ?? null, html: el.innerHTML})"
    )


def test_status_from_set_input_appears_and_disappears(
    harness_page: Any, tiny_maps: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fmwidget import FeatureMapWidget
    from fmwidget import widget as widget_module

    model, x, _ = tiny_maps
    w = FeatureMapWidget(model, x, view="grid")
    h = harness_page
    h.mount_widget(w)
    h.ready()
    assert status_line(h)["hidden"] and not status_line(h)["visible"]
    # what the kernel sends while set_input runs, replayed in order
    monkeypatch.setattr(widget_module, "STATUS_INTERVAL_S", 0.0)
    seen: list[Any] = []
    w.observe(lambda change: seen.append(change["new"]), names="status")
    w.set_input(x * 0.5)
    assert seen[0] == {"phase": "forward", "done": 0, "total": 2} and seen[-1] is None
    want = {
        (0, "forward"): ("running the model… layer 0 of 2", "0/2"),
        (2, "forward"): ("running the model… layer 2 of 2", "2/2"),
        (1, "layers"): ("summarising layers… 1 of 3", "1/3"),
    }
    shown = set()
    for status in seen:
        h.kernel_set("status", status)
        line = status_line(h)
        if status is None:
            assert line["hidden"] and not line["visible"]
            assert line["text"] == "" and line["progress"] is None
            continue
        assert line["visible"] and line["progress"] == f"{status['done']}/{status['total']}"
        key = (status["done"], status["phase"])
        if key in want:
            assert (line["text"], line["progress"]) == want[key]
            shown.add(key)
    assert shown == set(want)
    assert h.page_errors == []


def test_status_text_is_never_html(harness_page: Any, tiny_maps: Any) -> None:
    from fmwidget import FeatureMapWidget

    model, x, _ = tiny_maps
    h = harness_page
    h.mount_widget(FeatureMapWidget(model, x, view="grid"))
    h.ready()
    h.kernel_set("status", {"phase": HOSTILE, "done": HOSTILE, "total": 7})
    line = status_line(h)
    assert line["visible"] and line["text"] == "working…" and line["progress"] is None
    assert "<" not in line["html"]
    assert h.page.evaluate("() => window.__pwned") is None
    h.kernel_set("status", None)
    assert status_line(h)["hidden"]
    assert h.page_errors == []
