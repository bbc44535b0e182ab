"""Plugin discovery: the ``conv_oracle.impls`` entry-point group, or ``module:attr``.

Built-in and third-party implementations take the same path; an unpackaged plugin is
named ``module:attr`` (importable from the current directory) or ``path/to/file.py:attr``. Loading is lazy and cached;
a plugin that fails to import or is malformed becomes a RuntimeWarning naming it and an
'unavailable' entry, and the others keep working.
"""
from __future__ import annotations

import importlib
import importlib.util
import os
import sys
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


def entry(name: str) -> Entry:
    """Load one implementation by entry-point name or ``module:attr`` (cached)."""
    if name in _loaded:
        return _loaded[name]
    if ":" in name:
        module, _, attr = name.rpartition(":")
        result = _load_target(name, name, lambda: getattr(_import(module), attr))
        if result.plugin is not None:
            result.name = result.plugin.name
    else:
        eps = _entry_points()
        if name not in eps:
            raise UnknownImplementationError(
                f"unknown implementation {name!r}; known: {', '.join(names()) or '(none installed)'}; "
                "or give an unpackaged plugin as module:attr"
            )
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
    _entry_points.cache_clear()
