"""Helpers for the real-browser tests: the harness page and the real layer data behind it.

JupyterLab servers and notebooks are in ``lab.py``, probes of a rendered widget in ``probes.py``.

Everything here is plain code; the fixtures that own processes live in ``conftest.py``.
Nothing in here talks to anything but 127.0.0.1.
"""

from __future__ import annotations

import base64
import json
import os
import pathlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

REPO = pathlib.Path(__file__).resolve().parents[2]
BUNDLE = REPO / "fmwidget" / "static" / "widget.js"
FAKE_MODEL_JS = pathlib.Path(__file__).with_name("fake_model.js")
CHROMIUM = os.environ.get("FMW_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
HOSTILE = '<img src=x onerror="window.__pwned=1">'

# The harness page is never served by a real server: page.route answers these URLs.
HARNESS_ORIGIN = "http://127.0.0.1:47831"

# A responder plays the kernel: it gets each message the widget sends and returns the custom
# messages to send back, each ``(content, [buffer bytes])``.
Responder = Callable[[dict[str, Any]], "list[tuple[dict[str, Any], list[bytes]]]"]


# -- network guard ----------------------------------------------------------------------------
def only_localhost(route: Any) -> None:
    """Playwright route handler: let 127.0.0.1 through, abort everything else."""
    if urlsplit(route.request.url).hostname == "127.0.0.1":
        route.fallback()
    else:
        route.abort("blockedbyclient")


def new_context(browser: Any, **kwargs: Any) -> Any:
    """A browser context that can only reach 127.0.0.1."""
    ctx = browser.new_context(service_workers="block", **kwargs)
    ctx.route("**/*", only_localhost)
    return ctx


def save_artifacts(page: Any, directory: pathlib.Path, name: str) -> None:
    """Screenshot + HTML of ``page`` for a failed test (best effort)."""
    stem = re.sub(r"[^\w.-]+", "_", name)[:80]
    try:
        page.screenshot(path=str(directory / f"{stem}.png"), full_page=True)
        (directory / f"{stem}.html").write_text(page.content())
        print(f"\nbrowser artifacts: {directory / stem}.png and .html")
    except Exception as err:  # the page may be gone already
        print(f"\n(no browser artifacts: {err})")


# -- Keras side -------------------------------------------------------------------------------
def keras_env(keras_home: str | os.PathLike[str]) -> dict[str, str]:
    """Environment additions for anything spawned that imports Keras."""
    path = os.environ.get("PYTHONPATH", "")
    return {
        "KERAS_BACKEND": os.environ.get("KERAS_BACKEND", "tensorflow"),
        "KERAS_HOME": str(keras_home),
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), path) if p),
    }


TINY_CNN_SOURCE = """\
\"\"\"The small real CNN and input image of fmwidget's browser tests.\"\"\"
import json
import numpy as np
import keras
import fmwidget

def ring_image(size=28):
    yy, xx = np.mgrid[:size, :size].astype("float32")
    r = np.hypot(yy - size / 2 + 0.5, xx - size / 2 + 0.5)
    img = np.exp(-((r - size / 3.5) ** 2) / 6.0) + 0.25 * (xx / size)
    return img.astype("float32")[None, :, :, None]

def tiny_cnn(name="tiny_cnn", conv_name="conv", pool_name="pool"):
    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Conv2D(4, 3, activation="relu", name=conv_name),
            keras.layers.MaxPooling2D(2, name=pool_name),
        ],
        name=name,
    )
"""


def tiny_cnn_and_input(**names: str) -> tuple[Any, Any]:
    """The same small real Keras CNN and input image the notebooks build."""
    scope: dict[str, Any] = {}
    exec(TINY_CNN_SOURCE, scope)
    return scope["tiny_cnn"](**names), scope["ring_image"]()


def synced_state(widget: Any) -> dict[str, Any]:
    """The traits a real FeatureMapWidget syncs to the browser (without ipywidgets' own)."""
    import ipywidgets

    base = set(ipywidgets.DOMWidget.class_trait_names(sync=True))
    state = {k: v for k, v in widget.get_state().items() if k not in base and k[0] != "_"}
    return json.loads(json.dumps(state))


Reply = tuple[dict[str, Any], list[bytes]]


@dataclass
class KernelResponder:
    """Answers every message with a real FeatureMapWidget's own handler (no kernel needed).

    The widget's ``send`` is captured while it handles the message, so the harness gets
    byte-for-byte what the kernel would send, for every message type the widget knows.
    """

    widget: Any
    requests: list[dict[str, Any]] = field(default_factory=list)

    def __call__(self, content: dict[str, Any], buffers: Sequence[bytes] = ()) -> list[Reply]:
        self.requests.append(content)
        out: list[Reply] = []

        def capture(msg: Any, buffers: Any = None) -> None:
            out.append((json.loads(json.dumps(msg)), [bytes(b) for b in buffers or []]))

        syncs = content.get("type") == "set_input"  # it changes traits, as set_input does
        before = synced_state(self.widget) if syncs else {}
        self.widget.send = capture
        try:
            self.widget._handle_custom_msg(content, list(buffers))
        finally:
            del self.widget.send
        if syncs:  # the trait changes reach the browser before the reply, as over the comm
            after = synced_state(self.widget)
            changed = {k: v for k, v in after.items() if before.get(k) != v}
            out.insert(0, ({"__state__": changed}, []))
        return out


# -- harness page -----------------------------------------------------------------------------
HARNESS_HTML = """<!doctype html>
<html><head><meta charset="utf-8"><title>fmwidget harness</title></head>
<body style="margin:0;width:1200px"><div id="host"></div></body></html>
"""


class Harness:
    """A plain page that runs the real bundle against a fake anywidget model."""

    def __init__(self, page: Any):
        self.page = page
        self.responder: Responder | None = None
        self.page_errors: list[str] = []
        self.console_errors: list[str] = []
        self.failed_requests: dict[str, str] = {}
        page.on("pageerror", lambda err: self.page_errors.append(str(err)))
        page.on(
            "requestfailed",
            lambda req: self.failed_requests.__setitem__(req.url, req.failure or ""),
        )
        page.on(
            "console",
            lambda msg: self.console_errors.append(msg.text) if msg.type == "error" else None,
        )
        page.route(f"{HARNESS_ORIGIN}/**", self._serve)
        page.expose_function("__fmwPySend", self._on_send)
        page.goto(f"{HARNESS_ORIGIN}/index.html")

    def _serve(self, route: Any) -> None:
        path = urlsplit(route.request.url).path
        if path in ("/", "/index.html"):
            route.fulfill(status=200, content_type="text/html", body=HARNESS_HTML)
        elif path == "/widget.js":  # read per page: a rebuilt bundle is picked up at once
            route.fulfill(status=200, content_type="text/javascript", body=BUNDLE.read_bytes())
        elif path == "/fake_model.js":
            route.fulfill(
                status=200, content_type="text/javascript", body=FAKE_MODEL_JS.read_bytes()
            )
        else:
            route.fulfill(status=404, content_type="text/plain", body="not found")

    def _on_send(
        self, content: Any, _n_buffers: int, b64s: Sequence[str] | None = None
    ) -> list[dict[str, Any]]:
        if self.responder is None:
            return []
        sent = [base64.b64decode(b) for b in b64s or []]
        # only messages with binary buffers (set_input) pass them: other responders take one
        answers = self.responder(content, sent) if sent else self.responder(content)  # type: ignore[call-arg]
        return [
            {"content": reply, "buffers": [base64.b64encode(b).decode("ascii") for b in bufs]}
            for reply, bufs in answers or []
        ]

    # -- driving ------------------------------------------------------------------------------
    def mount(
        self,
        state: dict[str, Any],
        responder: Responder | None = None,
        early: Sequence[Reply] = (),
    ) -> Any:
        """Renders the widget with ``state``; returns the ``.fmw-root`` locator.

        ``early``: custom messages ``(content, [buffer bytes])`` the model gets between
        ``initialize`` and ``render`` (what the kernel sent right after making the widget).
        """
        self.responder = responder
        pushed = [
            {"content": c, "buffers": [base64.b64encode(bytes(b)).decode("ascii") for b in bufs]}
            for c, bufs in early
        ]
        self.page.evaluate(
            """async ([state, early]) => {
                const {mount} = await import('/fake_model.js');
                await mount('/widget.js', state, early);
            }""",
            [state, pushed],
        )
        return self.root

    def mount_widget(self, widget: Any, **overrides: Any) -> Any:
        """Mounts a real FeatureMapWidget: its synced state, its own message handler."""
        self.kernel = KernelResponder(widget)
        return self.mount({**synced_state(widget), **overrides}, self.kernel)

    @property
    def root(self) -> Any:
        return self.page.locator(".fmw-root")

    def ready(self, timeout: float = 10_000) -> Any:
        ready = self.page.locator('.fmw-root[data-ready="1"]')
        ready.wait_for(state="visible", timeout=timeout)
        return ready

    def get(self, key: str) -> Any:
        return self.page.evaluate("(k) => window.__fmwModel.get(k)", key)

    def kernel_set(self, key: str, value: Any) -> None:
        """A trait change coming from the kernel."""
        self.page.evaluate("([k, v]) => window.__fmwModel.kernelSet(k, v)", [key, value])

    def reply(self, content: dict[str, Any], buffers: Sequence[bytes] = ()) -> None:
        """Delivers a custom message from the 'kernel' by hand."""
        self.page.evaluate(
            """([content, b64s]) => window.__fmwModel.reply(content, b64s.map((b) => {
                const s = atob(b); const u = new Uint8Array(s.length);
                for (let i = 0; i < s.length; i++) u[i] = s.charCodeAt(i);
                return new DataView(u.buffer);
            }))""",
            [content, [base64.b64encode(bytes(b)).decode("ascii") for b in buffers]],
        )

    def sent(self) -> list[dict[str, Any]]:
        return self.page.evaluate("() => window.__fmwModel.sent")

    def sent_buffers(self) -> list[list[bytes]]:
        """The binary buffers of each message in :meth:`sent`, by index."""
        b64s = self.page.evaluate("() => window.__fmwModel.sentBuffers")
        return [[base64.b64decode(b) for b in bufs] for bufs in b64s]

    def sets(self) -> list[dict[str, Any]]:
        """Trait changes the widget made, in order: ``[{key, value}, ...]``."""
        return self.page.evaluate("() => window.__fmwModel.sets")

    def wait_for_trait(self, key: str, timeout: float = 5_000) -> Any:
        """Waits until trait ``key`` is not null/undefined and returns it."""
        self.page.wait_for_function(
            "(k) => window.__fmwModel.get(k) != null", arg=key, timeout=timeout
        )
        return self.get(key)

    def saves(self) -> int:
        return self.page.evaluate("() => window.__fmwModel.saves")
