"""The harness uses plugins through the registry and their public API only: nothing under
``conv_oracle/`` imports a private (underscore) name of ``impls/`` (issue 11). Built-ins have
no privileges, so anything a study needs from one must be public, as a third party's would be.

The scan is static (``ast``), so an import inside a function counts as much as one at the top.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "conv_oracle"


def _private(dotted: str) -> bool:
    return any(part.startswith("_") for part in dotted.split("."))


def private_impls_uses(source: str, filename: str = "<string>") -> list[str]:
    """'line: what' for every import of, or attribute read through an import of, a private name
    of ``impls``: ``from impls.m import _x``, ``from impls._m import x``, ``import impls._m``, and
    ``M._x`` where ``M`` was bound by importing an ``impls`` module."""
    tree = ast.parse(source, filename)
    found, modules = [], set()          # modules: local names bound to impls modules
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module \
                and node.module.split(".")[0] == "impls":
            for alias in node.names:
                if _private(node.module) or _private(alias.name):
                    found.append(f"{node.lineno}: from {node.module} import {alias.name}")
                else:
                    modules.add(alias.asname or alias.name)    # may be a submodule: impls import winograd
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] != "impls":
                    continue
                if _private(alias.name):
                    found.append(f"{node.lineno}: import {alias.name}")
                modules.add(alias.asname or alias.name.split(".")[0])
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
            base = node.value
            while isinstance(base, ast.Attribute):
                base = base.value
            if isinstance(base, ast.Name) and base.id in modules:
                found.append(f"{node.lineno}: {ast.unparse(node)}")
    return found


def test_conv_oracle_imports_no_private_name_of_impls():
    files = sorted(PACKAGE.rglob("*.py"))
    assert len(files) > 20, f"the scan found only {len(files)} files under {PACKAGE}"
    bad = [f"{path.relative_to(PACKAGE.parent)}:{use}" for path in files
           for use in private_impls_uses(path.read_text(encoding="utf-8"), str(path))]
    assert not bad, "conv_oracle uses private names of impls/ (make them public API):\n" + "\n".join(bad)


@pytest.mark.parametrize("source", [
    "from impls.winograd import WinogradBound, _Winograd",
    "def f():\n    from impls.winograd import _Winograd as W",
    "from impls._private import thing",
    "import impls._private",
    "import impls.winograd as W\nW._Winograd",
    "from impls import winograd\nwinograd._plan",
    "import impls.fft\nimpls.fft._to_phases(1)",
])
def test_the_scan_finds_private_uses(source):
    assert private_impls_uses(source)


@pytest.mark.parametrize("source", [
    "from impls.winograd import winograd_plugin, WinogradBound",
    "import impls.winograd as W\nW.winograd_plugin(8).__class__",
    "from conv_oracle.runner import _snapshot",            # conv_oracle's own private names are its business
    "import numpy as np\nnp._core",
])
def test_the_scan_passes_public_uses(source):
    assert private_impls_uses(source) == []
