"""The package's shape: the widget sits on top, nothing below it imports it back."""

from __future__ import annotations

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).parents[1] / "fmwidget"


def _imports(path: pathlib.Path) -> set[str]:
    """The fmwidget modules ``path`` imports (relative imports, lazy ones included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                found.add(node.module.split(".")[0])
            else:
                found.update(alias.name for alias in node.names)
    return found


MODULES = sorted(p for p in PACKAGE.glob("*.py") if p.name != "__init__.py")


def test_imports_are_read():
    assert "export" in _imports(PACKAGE / "widget.py")
    assert "replies" in _imports(PACKAGE / "export.py")


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.stem)
def test_no_module_imports_the_widget(path):
    """``widget`` imports the export and the replies; neither (nor anything) imports it."""
    assert "widget" not in _imports(path), f"{path.name} imports widget.py"
