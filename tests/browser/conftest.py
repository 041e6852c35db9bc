"""Fixtures for the real-browser tests (headless Chromium through Playwright's sync API).

- ``browser``: one Chromium for the session; every context made through ``new_context``
  aborts requests to any host but 127.0.0.1.
- ``harness_page``: a fresh plain page running the real ``fmwidget/static/widget.js`` against a
  fake anywidget model (see ``helpers.Harness`` and ``fake_model.js``).
- ``jupyterlab``: one real JupyterLab server for the session.
- ``tiny_maps``: a real Keras CNN, its input and ``fmwidget.extract`` result.

Run (about 20 s on 2 cores; ``-m "not jupyterlab"`` keeps only the ~4 s harness part)::

    KERAS_BACKEND=tensorflow PYTHONPATH=. python -m pytest tests/browser -q

Needs Chromium at /usr/bin/chromium (or ``FMW_CHROMIUM``), the playwright Python package,
jupyterlab + ipykernel + nbformat + anywidget in the interpreter running pytest (the notebook
kernel is that same interpreter), and the built bundle ``fmwidget/static/widget.js``
(``npm run build``). Missing pieces fail the tests; nothing is skipped. On failure a
screenshot and the page HTML are kept in the test's tmp_path (the path is printed).
"""

from __future__ import annotations

import importlib.util
import os
import pathlib
import sys
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest

from .helpers import (
    BUNDLE,
    CHROMIUM,
    CHROMIUM_ARGS,
    REPO,
    Harness,
    new_context,
    save_artifacts,
    tiny_cnn_and_input,
)
from .lab import LabServer, start_lab

# Keras writes keras.json into KERAS_HOME on first import: keep it out of ~/.keras.
os.environ.setdefault("KERAS_HOME", tempfile.mkdtemp(prefix="fmw-keras-home-"))
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
if importlib.util.find_spec("fmwidget") is None:  # not installed and no PYTHONPATH
    sys.path.insert(0, str(REPO))


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Any:
    rep = yield
    setattr(item, f"rep_{rep.when}", rep)
    return rep


def _failed(request: pytest.FixtureRequest) -> bool:
    rep = getattr(request.node, "rep_call", None)
    return bool(rep is not None and rep.failed)


@pytest.fixture
def keep_artifacts(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> Any:
    """``keep_artifacts(page)`` at teardown: on failure saves a screenshot + HTML to tmp_path."""

    def keep(page: Any) -> None:
        if _failed(request):
            save_artifacts(page, tmp_path, request.node.name)

    return keep


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as err:
        pytest.fail(f"playwright is not installed ({err}): pip install playwright", pytrace=False)
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"{CHROMIUM} not found: apt-get install -y chromium (or set FMW_CHROMIUM)",
            pytrace=False,
        )
    pw = sync_playwright().start()
    try:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    except Exception as err:
        pw.stop()
        pytest.fail(f"could not launch {CHROMIUM}: {err}", pytrace=False)
    try:
        yield b
    finally:
        b.close()
        pw.stop()


@pytest.fixture(scope="session")
def tiny_maps() -> tuple[Any, Any, Any]:
    """(model, x, FeatureMaps) of the small real CNN used across the browser tests."""
    import fmwidget

    model, x = tiny_cnn_and_input()
    return model, x, fmwidget.extract(model, x)


@pytest.fixture(scope="session")
def bundle() -> pathlib.Path:
    if not BUNDLE.is_file():
        pytest.fail(f"{BUNDLE} is missing: run `npm run build` in {REPO}", pytrace=False)
    return BUNDLE


@pytest.fixture
def harness_page(browser: Any, bundle: pathlib.Path, keep_artifacts: Any) -> Iterator[Harness]:
    """A fresh plain page with the real bundle and a fake model: call ``.mount(state)``."""
    ctx = new_context(browser, viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    page.set_default_timeout(10_000)
    try:
        yield Harness(page)
    finally:
        keep_artifacts(page)
        ctx.close()


@pytest.fixture(scope="session")
def jupyterlab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    """One JupyterLab 4 server on 127.0.0.1 for the whole session (SIGTERM at the end)."""
    base = tmp_path_factory.mktemp("jupyterlab")
    keras_home = base / "keras-home"
    keras_home.mkdir()
    server = start_lab(base, keras_home)
    try:
        yield server
    finally:
        server.stop()
