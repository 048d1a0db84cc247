"""House rules of the package layout that no linter checks: module size, imports at module
level, and the public names a script needs.

The layering itself (imports only point down the data flow) is checked by import-linter's
contracts in ``pyproject.toml``, run by ``.ci/run``.
"""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import bayes_needs

PACKAGE = Path(bayes_needs.__file__).resolve().parent
MODULES = sorted(PACKAGE.rglob("*.py"))
#: A module longer than this is doing more than one thing (ARCHITECTURE.md, "Modules").
MAX_MODULE_LINES = 450
#: The comment that must explain a function-level import (an optional dependency).
OPTIONAL_MARKER = "# optional:"


def _relative(path: Path) -> str:
    return str(path.relative_to(PACKAGE.parent))


@pytest.mark.parametrize("path", MODULES, ids=_relative)
def test_module_is_small(path):
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_MODULE_LINES, f"{_relative(path)} has {lines} lines"


def function_level_imports(source: str) -> list[tuple[int, str]]:
    """Line and source line of every import inside a function body."""
    lines = source.splitlines()
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for inner in ast.walk(node):
                if isinstance(inner, ast.Import | ast.ImportFrom):
                    found.append((inner.lineno, lines[inner.lineno - 1]))
    return found


def explained(source: str, lineno: int) -> bool:
    """Whether the import at ``lineno`` (1-based) or the line above says why it is local."""
    lines = source.splitlines()
    return any(OPTIONAL_MARKER in lines[i] for i in (lineno - 1, lineno - 2) if i >= 0)


def test_the_import_check_finds_local_imports():
    source = "def f():\n    import json\n    return json\n"
    assert function_level_imports(source) == [(2, "    import json")]
    assert not explained(source, 2)
    assert explained("def f():\n    # optional: not installed by default\n    import nutpie\n", 3)


@pytest.mark.parametrize("path", MODULES, ids=_relative)
def test_imports_are_at_module_level_unless_optional(path):
    source = path.read_text(encoding="utf-8")
    unexplained = [f"line {n}: {text.strip()}" for n, text in function_level_imports(source)
                   if not explained(source, n)]
    assert not unexplained, (f"{_relative(path)} imports inside functions without an "
                             f"'{OPTIONAL_MARKER}' comment: {unexplained}")


def test_public_names_resolve():
    missing = [name for name in bayes_needs.__all__ if not hasattr(bayes_needs, name)]
    assert not missing
    assert sorted(bayes_needs.__all__) == sorted(set(bayes_needs.__all__))


@pytest.mark.parametrize("path", MODULES, ids=_relative)
def test_every_module_imports_on_its_own(path):
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
    importlib.import_module(name)


def test_every_package_folder_is_installed():
    """A regular (non-editable) install ships only the packages pyproject.toml lists."""
    pyproject = tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text(encoding="utf-8"))
    listed = set(pyproject["tool"]["setuptools"]["packages"])
    folders = {".".join(init.parent.relative_to(PACKAGE.parent).parts)
               for init in PACKAGE.rglob("__init__.py")}
    assert folders <= listed, f"missing from [tool.setuptools] packages: {folders - listed}"
    assert "bayes_needs.default_priors" in listed


def test_public_names_are_exactly_the_lazy_exports():
    lazy = set(bayes_needs._EXPORTS) | {"__version__"}
    assert set(bayes_needs.__all__) == lazy


def test_importing_the_package_does_not_import_pymc():
    """Public names load on first use, so the CLI starts without paying for PyMC."""
    code = "import sys, bayes_needs; print('pymc' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"
