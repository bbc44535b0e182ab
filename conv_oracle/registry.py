"""Plugin discovery: the ``conv_oracle.impls`` entry-point group, or ``module:attr``.

Built-in and third-party implementations take the same path; an unpackaged plugin is
named ``module:attr`` (importable from the current directory) or ``path/to/file.py:attr``. Loading is lazy and cached;
a plugin that fails to import or is malformed becomes a RuntimeWarning naming it and an
'unavailable' entry, and the others keep working.

Import is a fault boundary too: after :func:`isolate_imports` (the CLI calls it), each
plugin is first imported in a child process, so one that hangs, raises or ends the
interpreter at import is 'unavailable' with that cause, within a timeout, and this process
only imports plugins that imported cleanly there.
"""
from __future__ import annotations

import contextlib
import importlib
import importlib.util
import json
import os
import select
import signal
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass
from functools import lru_cache
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path

from .plugin import ConvPlugin, validate_plugin

GROUP = "conv_oracle.impls"


class UnknownImplementationError(ValueError):
    """An implementation name that no entry point provides."""


class PluginLoadError(RuntimeError):
    """A plugin that exists but cannot be imported or is not a valid ConvPlugin."""


@dataclass
class Entry:
    name: str
    target: str                        # "module:attr"
    plugin: ConvPlugin | None = None
    error: str | None = None           # why it is unavailable
    install: str = ""                  # for a missing library: the command that installs it
    family: str = ""                   # the plugin's family, known even when it is unavailable

    @property
    def available(self) -> bool:
        return self.plugin is not None


@lru_cache(maxsize=1)
def _entry_points() -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=GROUP)}


_loaded: dict[str, Entry] = {}
IMPORT_TIMEOUT_S = 30.0                # a plugin's import (torch, TensorFlow: seconds) in a fresh interpreter
_import_timeout: float | None = None   # set by isolate_imports(): probe each import in a child first
_probed: dict[str, str | None] = {}    # name -> why its import failed in the child (None: it did not)


def names() -> list[str]:
    return sorted(_entry_points())


def _load_target(name: str, target: str, loader) -> Entry:
    try:
        plugin = validate_plugin(loader())
        plugin.registry_name = name       # how to load it again: used in replay commands
        missing = plugin.unavailable_reason()
    except Exception as exc:  # a broken plugin must not take the others down
        error = f"{type(exc).__name__}: {exc}"
        warnings.warn(f"conv-oracle plugin {name!r} ({target}) is unavailable: {error}", RuntimeWarning,
                      stacklevel=3)
        return Entry(name, target, None, error)
    if missing:  # a library that is not installed: listed with its install command, no warning
        return Entry(name, target, None, missing, install=plugin.install, family=plugin.family)
    return Entry(name, target, plugin, family=plugin.family)


@contextlib.contextmanager
def isolated_imports(timeout: float = IMPORT_TIMEOUT_S):
    """Within the block, import every plugin in a child process (within ``timeout``) before this one."""
    global _import_timeout
    previous, _import_timeout = _import_timeout, timeout
    try:
        yield
    finally:
        _import_timeout = previous


def _import_fault(name: str) -> str | None:
    if _import_timeout is None:
        return None
    if name not in _probed:
        _probed.update(probe_imports([name], _import_timeout))
    return _probed[name]


def entry(name: str) -> Entry:
    """Load one implementation by entry-point name or ``module:attr`` (cached)."""
    if name in _loaded:
        return _loaded[name]
    if ":" not in name and name not in _entry_points():
        raise UnknownImplementationError(
            f"unknown implementation {name!r}; known: {', '.join(names()) or '(none installed)'}; "
            "or give an unpackaged plugin as module:attr")
    fault = _import_fault(name)
    if fault is not None:
        target = name if ":" in name else _entry_points()[name].value
        warnings.warn(f"conv-oracle plugin {name!r} ({target}) is unavailable: {fault}", RuntimeWarning, stacklevel=2)
        _loaded[name] = Entry(name, target, None, fault)
        return _loaded[name]
    if ":" in name:
        module, _, attr = name.rpartition(":")
        result = _load_target(name, name, lambda: getattr(_import(module), attr))
        if result.plugin is not None:
            result.name = result.plugin.name
    else:
        eps = _entry_points()
        result = _load_target(name, eps[name].value, eps[name].load)
    _loaded[name] = result
    return result


def _import(module: str):
    """Import ``module`` (dotted name, found from the current directory too) or a ``.py`` file,
    with the file's directory on ``sys.path`` so that it can import the modules next to it
    (in a worker process too, which loads the plugin the same way)."""
    if module.endswith(".py"):
        path = Path(module).resolve()
        spec = importlib.util.spec_from_file_location(path.stem, path)
        if spec is None or not path.exists():
            raise ImportError(f"no plugin file {module}")
        if str(path.parent) not in sys.path:
            sys.path.insert(0, str(path.parent))
        loaded = importlib.util.module_from_spec(spec)
        sys.modules[path.stem] = loaded
        spec.loader.exec_module(loaded)
        return loaded
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    return importlib.import_module(module)


def load(name: str) -> ConvPlugin:
    """The plugin itself; PluginLoadError if it is unavailable."""
    result = entry(name)
    if result.plugin is None:
        raise PluginLoadError(f"implementation {name!r} ({result.target}) is unavailable: {result.error}")
    return result.plugin


def all_entries() -> list[Entry]:
    if _import_timeout is not None:             # one child probes them all
        _probed.update(probe_imports([n for n in names() if n not in _probed and n not in _loaded], _import_timeout))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # listed as unavailable instead
        return [entry(n) for n in names()]


def family_names(family: str) -> list[str]:
    """Registered names whose plugin is of ``family`` ("" for the algorithms, "framework" for
    the library candidates), available or not."""
    return [e.name for e in all_entries() if e.family == family or (e.plugin is None and not e.family
                                                                   and family == "")]


def clear_cache() -> None:
    _loaded.clear()
    _probed.clear()
    _entry_points.cache_clear()


# ---- the import probe ----------------------------------------------------------------------
_PROBE = "from conv_oracle.registry import _probe_child; _probe_child()"


def _probe_child() -> None:
    """In the child: load each name of argv, reporting on the original stdout; the plugins'
    own prints go to stderr."""
    report = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    for name in sys.argv[1:]:
        print(json.dumps(["start", name]), file=report, flush=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            try:
                loaded = entry(name)
                # a library that is not installed is no import fault: the parent finds it missing
                # too, cheaply, and keeps the plugin's family and install command
                error = None if loaded.install else loaded.error
            except BaseException as exc:      # SystemExit, KeyboardInterrupt at import: a fault too
                error = f"{type(exc).__name__} at import: {exc}"
        print(json.dumps(["done", name, error]), file=report, flush=True)


def _deaf_child(parent: int) -> None:
    """In the probe child, before exec: die with the parent, ignore Ctrl-C (the CLI handles it)."""
    from .isolation import die_with_parent

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    die_with_parent(parent)


def _child_death(code: int) -> str:
    if code < 0:
        return f"its import killed the interpreter (signal {signal.Signals(-code).name})"
    return f"its import ended the interpreter with exit code {code}"


def probe_imports(todo: list[str], timeout: float) -> dict[str, str | None]:
    """{name: None, or why importing it failed in a child process}. One child loads them in
    turn; one that hangs (past ``timeout``) or ends the child is blamed, and a new child goes
    on with the rest."""
    found: dict[str, str | None] = {}
    parent = os.getpid()
    while todo:
        child = subprocess.Popen([sys.executable, "-c", _PROBE, *todo], stdin=subprocess.DEVNULL,
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                 preexec_fn=lambda: _deaf_child(parent))
        current, deadline = None, time.monotonic() + timeout
        try:
            while True:
                ready, _, _ = select.select([child.stdout], [], [], max(0.0, deadline - time.monotonic()))
                if not ready:
                    found[current or todo[0]] = f"its import did not finish within {timeout:g} s (killed)"
                    break
                line = child.stdout.readline()
                if not line:
                    if current is not None:
                        found[current] = _child_death(child.wait())
                    break
                message = json.loads(line)
                if message[0] == "start":
                    current, deadline = message[1], time.monotonic() + timeout
                else:
                    found[message[1]], current = message[2], None
        finally:
            child.kill()
            child.wait()
            child.stdout.close()
        left = [n for n in todo if n not in found]
        if len(left) == len(todo):             # the child died before its first line: blame nothing twice
            found.update({n: "the import probe could not start" for n in left})
            left = []
        todo = left
    return found
