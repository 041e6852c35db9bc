"""fmwidget in each notebook host that runs here: Notebook 7, Voila, marimo (run and edit).

JupyterLab is in ``test_jupyterlab.py`` and the kernel-free static page (opened from
``file://``) in ``test_export.py``. Each test opens the host as a user would, waits for the maps
to be painted (canvas pixels), hovers a map, clicks a cell, sees its trace, and checks that the
hover, trace target and selection reached the Python object (``hosts.py`` has the contract).

Notebook 7 and Voila are served by the session's Jupyter server (their server extensions: the
same pages ``jupyter notebook`` and ``voila`` serve), marimo by its own server per mode.
Each test costs a kernel start and a TensorFlow import, so there is one test per host.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from .helpers import TINY_CNN_SOURCE, new_context
from .hosts import (
    JUPYTER_CELL,
    assert_painted,
    hover_and_trace,
    label_json,
    marimo_echo,
    start_marimo,
    wait_for_python,
)
from .lab import LabNotebook, LabServer, write_notebook

pytestmark = [pytest.mark.browser, pytest.mark.hosts]

NOTEBOOK = "hosts.ipynb"


@pytest.fixture(scope="module")
def hosts_notebook(jupyterlab: LabServer) -> str:
    (jupyterlab.root_dir / "fmw_tiny.py").write_text(TINY_CNN_SOURCE)
    write_notebook(jupyterlab.root_dir / NOTEBOOK, [JUPYTER_CELL])
    return NOTEBOOK


@pytest.fixture
def page(browser: Any, keep_artifacts: Any) -> Iterator[Any]:
    ctx = new_context(browser, viewport={"width": 1400, "height": 1000})
    ctx.set_default_timeout(60_000)
    page = ctx.new_page()
    try:
        yield page
    finally:
        keep_artifacts(page)
        ctx.close()


def test_notebook7(page: Any, jupyterlab: LabServer, hosts_notebook: str) -> None:
    nb = LabNotebook(page, jupyterlab, hosts_notebook, url=jupyterlab.notebook_url(hosts_notebook))
    nb.run_cell(0, timeout=120_000)
    assert nb.error_text(0) == ""
    out = nb.outputs(0)
    assert_painted(out)
    cell = hover_and_trace(page, out)
    wait_for_python(page, label_json(out, ".fmw-echo"), cell)


def test_voila(page: Any, jupyterlab: LabServer, hosts_notebook: str) -> None:
    # Voila streams the page while it runs the notebook: don't wait for "load"
    page.goto(jupyterlab.voila_url(hosts_notebook), wait_until="commit")
    assert_painted(page)
    cell = hover_and_trace(page, page)
    wait_for_python(page, label_json(page, ".fmw-echo"), cell)


@pytest.mark.parametrize("mode", ["run", "edit"])
def test_marimo(page: Any, mode: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    base = tmp_path_factory.mktemp(f"marimo-{mode}")
    keras_home = base / "keras-home"
    keras_home.mkdir()
    server = start_marimo(mode, base, keras_home)
    try:
        page.goto(server.url)
        if mode == "edit":  # an opened notebook does not run by itself: once the kernel is
            # connected (its status icon turns to a check), press "Run all" (bottom right)
            page.locator('[data-testid="backend-status"] .lucide-circle-check').wait_for()
            page.locator('[data-testid="run-button"]').last.click()
        assert_painted(page)
        cell = hover_and_trace(page, page)
        # the second cell re-runs whenever the widget's value changes
        state = wait_for_python(page, lambda: marimo_echo(page), cell)
        assert marimo_echo(page, "value") == state  # what marimo's w.value holds
    except BaseException:
        print(f"\nmarimo {mode} log:\n{server.log_tail()}")
        raise
    finally:
        server.stop()
