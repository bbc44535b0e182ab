"""conv-oracle: differential testing and verification harness for 2-D convolution.

The public names are imported when first used (PEP 562), so that ``import conv_oracle``
costs nothing: the CLI (``conv_oracle.__main__``) then imports NumPy, Hypothesis and the rest
inside its own Ctrl-C handling, and an interrupt during those imports ends it cleanly.
"""
from __future__ import annotations

import importlib

_EXPORTS = {"BoundContext": "bounds", "DirectSum": "bounds", "ErrorModel": "bounds", "PerDtype": "bounds",
            "gamma": "bounds", "Capabilities": "plugin", "ConvPlugin": "plugin", "NotSupported": "plugin",
            "ConvSpec": "spec", "SpecError": "spec"}
__all__ = sorted(_EXPORTS)
__version__ = "0.1.0"


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
