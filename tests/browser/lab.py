"""JupyterLab (and other Jupyter servers) for the real-browser tests: start a server on
127.0.0.1 with its own settings and kernels, write a notebook, open it in a fresh workspace
and run its cells as a user would (``LabNotebook``).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import pathlib
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pytest

from .helpers import keras_env, new_context


# -- JupyterLab -------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LabServer:
    """A server process on 127.0.0.1: JupyterLab (also Notebook 7 and Voila), or marimo."""

    url: str
    token: str
    root_dir: pathlib.Path
    proc: subprocess.Popen
    log_path: pathlib.Path
    env: dict[str, str]

    def lab_url(self, path: str = "") -> str:
        # ``reset``: a fresh workspace, so a notebook an earlier test left open is not
        # restored beside this one (it made the next module's first cell never paint).
        return f"{self.url}lab/tree/{path}?reset&token={self.token}"

    def notebook_url(self, path: str) -> str:
        """The notebook in Notebook 7 (the ``notebook`` server extension of the same server)."""
        return f"{self.url}notebooks/{path}?token={self.token}"

    def voila_url(self, path: str) -> str:
        """The notebook run as a Voila app (Voila's server extension of the same server)."""
        return f"{self.url}voila/render/{path}?token={self.token}"

    def log_tail(self, n: int = 40) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        return "\n".join(lines[-n:])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


def lab_environment(base: pathlib.Path, keras_home: pathlib.Path) -> dict[str, str]:
    """Fresh Jupyter dirs, a kernelspec for this interpreter, and no-pop-up settings."""
    dirs = {
        "JUPYTER_CONFIG_DIR": base / "config",
        "JUPYTER_DATA_DIR": base / "data",
        "JUPYTER_RUNTIME_DIR": base / "runtime",
        "IPYTHONDIR": base / "ipython",
        "JUPYTERLAB_SETTINGS_DIR": base / "lab-settings",
        "JUPYTERLAB_WORKSPACES_DIR": base / "lab-workspaces",
    }
    for d in dirs.values():
        d.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "IPYTHON"))}
    env.update({k: str(v) for k, v in dirs.items()})
    env.update(keras_env(keras_home))
    env["PYTHONUNBUFFERED"] = "1"

    kernel_dir = dirs["JUPYTER_DATA_DIR"] / "kernels" / "python3"
    kernel_dir.mkdir(parents=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (fmwidget tests)",
        "language": "python",
        "env": keras_env(keras_home),
        "metadata": {"debugger": False},
    }
    (kernel_dir / "kernel.json").write_text(json.dumps(spec, indent=1))

    settings = dirs["JUPYTERLAB_SETTINGS_DIR"] / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False})
    )
    # Notebook 7 exposes window.jupyterapp too (LabNotebook asks it whether the kernel is idle)
    (dirs["JUPYTER_CONFIG_DIR"] / "jupyter_notebook_config.json").write_text(
        json.dumps({"JupyterNotebookApp": {"expose_app_in_browser": True}})
    )
    return env


def start_server(
    name: str,
    command: Callable[[int], list[str]],
    env: dict[str, str],
    base: pathlib.Path,
    root: pathlib.Path,
    token: str,
    status_path: str,
    timeout: float = 60,
) -> LabServer:
    """Starts ``command(port)`` on a free port and waits until ``status_path`` answers.

    ``status_path`` is relative to the server's root URL (``{token}`` is filled in). The
    process gets its own session (stopped with SIGTERM) and logs to ``base/<name>-<n>.log``.
    """
    last_log = ""
    for attempt in range(3):  # a free port can be taken between probing and binding
        port = free_port()
        log_path = base / f"{name}-{attempt}.log"
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                command(port), env=env, cwd=root, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip
        server = LabServer(f"http://127.0.0.1:{port}/", token, root, proc, log_path, env)
        status_url = server.url + status_path.format(token=token)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(status_url, timeout=2):
                    return server
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.2)
        server.stop()
        last_log = server.log_tail()
        if "already in use" not in last_log:
            break
    pytest.fail(f"{name} did not answer {status_path} within {timeout}s.\n{last_log}")


def start_lab(base: pathlib.Path, keras_home: pathlib.Path, timeout: float = 60) -> LabServer:
    """JupyterLab 4 (the same server also serves Notebook 7 and Voila's ``/voila/render/``)."""
    env = lab_environment(base, keras_home)
    root = base / "notebooks"
    root.mkdir()
    token = base64.b32encode(os.urandom(15)).decode("ascii").lower()

    def command(port: int) -> list[str]:
        return [
            sys.executable, "-m", "jupyterlab",
            "--no-browser", "--allow-root", "--ip=127.0.0.1", f"--port={port}",
            "--port-retries=0", f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={root}", "--LabApp.news_url=None",
            "--LabApp.expose_app_in_browser=True",
        ]  # fmt: skip

    return start_server(
        "jupyterlab", command, env, base, root, token, "api/status?token={token}", timeout
    )


def write_notebook(path: pathlib.Path, cells: Sequence[str]) -> pathlib.Path:
    """A notebook of code cells whose kernelspec is python3 (our kernelspec, sys.executable)."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3 (fmwidget tests)",
        "language": "python",
    }
    nb.metadata["language_info"] = {"name": "python"}
    nb.cells = [nbformat.v4.new_code_cell(src) for src in cells]
    nbformat.write(nb, str(path))
    return path


_PROMPT = re.compile(r"\[(\d+|\s*|\*)\]")


class LabNotebook:
    """One notebook open in JupyterLab (or Notebook 7), driven through the DOM like a user would.

    ``url`` defaults to the notebook in JupyterLab; pass ``server.notebook_url(name)`` for
    Notebook 7, whose page uses the same cell and prompt elements.
    """

    def __init__(
        self,
        page: Any,
        server: LabServer,
        name: str,
        timeout: float = 60_000,
        url: str | None = None,
    ):
        self.page = page
        self.server = server
        self.name = name
        self.timeout = timeout
        self.lost_runs: list[int] = []
        page.goto(url or server.lab_url(name))
        self.cells.first.wait_for(state="visible", timeout=timeout)
        self.wait_idle()

    @property
    def cells(self) -> Any:
        return self.page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell")

    def cell(self, index: int) -> Any:
        return self.cells.nth(index)

    def outputs(self, index: int) -> Any:
        return self.cell(index).locator(".jp-OutputArea-output")

    def wait_idle(self, timeout: float | None = None) -> None:
        """Waits until this notebook's kernel is connected and idle.

        The toolbar's execution indicator can read "idle" while the kernel connection is still
        being set up, and Shift+Enter pressed then is silently lost: ask Lab's session instead
        (the server runs with ``--LabApp.expose_app_in_browser``).
        """
        self.page.wait_for_function(
            """() => {
                const panel = window.jupyterapp?.shell?.currentWidget;
                const kernel = panel?.sessionContext?.session?.kernel;
                return !!kernel && kernel.connectionStatus === "connected"
                    && kernel.status === "idle" && panel.context?.isReady === true;
            }""",
            timeout=timeout or self.timeout,
            polling=100,
        )

    def _count(self, index: int) -> str:
        text = self.cell(index).locator(".jp-InputPrompt").first.inner_text()
        m = _PROMPT.search(text)
        return m.group(1).strip() if m else ""

    def run_cell(self, index: int, timeout: float | None = None, *, mouse: bool = True) -> str:
        """Runs cell ``index`` and returns its stdout text.

        With ``mouse`` it clicks the cell's prompt and presses Shift+Enter, as a user would;
        without, it runs the cell through Lab's command registry so the pointer stays put.
        """
        timeout = timeout or self.timeout
        cell = self.cell(index)
        cell.scroll_into_view_if_needed(timeout=timeout)
        before = self._count(index)
        self._start(index, mouse)
        started = time.monotonic()
        deadline = started + timeout / 1000
        retried = False
        while True:
            now = self._count(index)
            if now.isdigit() and now != before:
                break
            if now == before and not retried and time.monotonic() - started > 5:
                # Never queued (no "[*]"): the request was lost, e.g. during a reconnect.
                retried = True
                self.lost_runs.append(index)
                print(f"cell {index}: run request lost (prompt {now!r}), running it again")
                self.wait_idle()
                self._start(index, mouse)
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"cell {index} did not finish within {timeout / 1000:.0f}s "
                    f"(prompt {now!r}).\n{self.server.log_tail()}"
                )
            self.page.wait_for_timeout(100)
        return self.stdout(index)

    def _start(self, index: int, mouse: bool) -> None:
        if mouse:
            self.cell(index).locator(".jp-InputPrompt").first.click()
            self.page.keyboard.press("Shift+Enter")
        else:  # leaves the pointer where it is (e.g. hovering a widget)
            self.page.evaluate(
                """(i) => {
                    const app = window.jupyterapp;
                    const nb = app.shell.currentWidget.content;
                    nb.activeCellIndex = i;
                    void app.commands.execute("notebook:run-cell");
                }""",
                index,
            )

    def stdout(self, index: int) -> str:
        out = self.cell(index).locator(
            '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stdout"]'
        )
        return "".join(out.all_inner_texts())

    def error_text(self, index: int) -> str:
        """The traceback cell ``index`` raised, or ``""``."""
        out = self.cell(index).locator(
            '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.error"]'
        )
        return "".join(out.all_inner_texts())

    def stderr(self, index: int) -> str:
        out = self.cell(index).locator(
            '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'
        )
        return "".join(out.all_inner_texts())

    def run_json(self, index: int, timeout: float | None = None, *, mouse: bool = True) -> Any:
        """Runs a cell whose last stdout line is JSON and returns it decoded."""
        text = self.run_cell(index, timeout, mouse=mouse)
        lines = [ln for ln in text.splitlines() if ln.strip()]
        if not lines:
            raise AssertionError(
                f"cell {index} printed nothing; error: {self.error_text(index)!r}, "
                f"stderr: {self.stderr(index)!r}"
            )
        return json.loads(lines[-1])

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.page.close()


@contextlib.contextmanager
def open_lab_notebook(
    browser: Any, server: Any, name: str, cells: Sequence[str]
) -> Iterator[LabNotebook]:
    """``name`` written from ``cells``, open in Lab with cell 0 run (a failure there fails)."""
    write_notebook(server.root_dir / name, cells)
    ctx = new_context(browser, viewport={"width": 1400, "height": 1000})
    ctx.set_default_timeout(60_000)
    try:
        nb = LabNotebook(ctx.new_page(), server, name)
        nb.run_cell(0, timeout=120_000)
        err = nb.error_text(0)
        if err:
            pytest.fail(f"cell 0 raised in the kernel:\n{err}", pytrace=False)
        yield nb
    finally:
        ctx.close()
