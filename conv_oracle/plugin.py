"""The plugin contract: what an implementation declares and the two calls it answers.

A plugin is a subclass of :class:`ConvPlugin` (or an instance of one) exposed through the
``conv_oracle.impls`` entry-point group, or named directly as ``module:attr``.
Built-in implementations in ``impls/`` use exactly this contract and nothing more.
"""
from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar

from .bounds import DirectSum, ErrorModel
from .spec import ConvSpec

LAYOUTS = ("NCHW", "NHWC")  # NCHW pairs with OIHW weights, NHWC with HWIO


class NotSupported(Exception):
    """Raised by a plugin for a configuration outside its declared capabilities."""


@dataclass(frozen=True)
class Capabilities:
    """What an implementation handles. ``None`` means 'no limit'.

    Besides the limits, real libraries need constraints (all default off):
    ``equal_strides`` (one stride for both axes), ``square_kernel`` (kh == kw),
    ``valid_only`` (no padding at all), ``bias_required`` (every case has a bias);
    ``asymmetric_padding=False`` is symmetric padding, and NHWC-only is the plugin's
    ``layout = "NHWC"``. Limits that differ by direction or dtype are nested Capabilities,
    of which only the structural limits count (their ``dtypes`` are ignored):

    * ``backward_limits``: extra limits of the backward pass (a case outside them is
      checked forward only), e.g. ``Capabilities(groups=False)`` for a library whose
      grouped gradient is missing;
    * ``dtype_limits``: ``{dtype: Capabilities(...)}``, extra limits for cases of that dtype;
      its ``backward=False`` means no backward in that dtype.
    """

    dtypes: tuple[str, ...] = ("float32", "float64")
    max_stride: int | None = None          # 1: stride 1 only
    max_dilation: int | None = None        # 1: no dilation
    asymmetric_padding: bool = True
    groups: bool = True
    bias: bool = True
    backward: bool = True
    kernel_min: int = 1
    kernel_max: int | None = None          # per side
    max_elements: int | None = None        # elements of x + w + y
    nonfinite_inputs: bool = True          # NaN/Inf in x land exactly where a direct sum puts them
    notes: str = ""
    equal_strides: bool = False            # sh == sw only
    square_kernel: bool = False            # kh == kw only
    valid_only: bool = False               # padding 0 on every side only
    bias_required: bool = False            # no case without a bias
    backward_limits: "Capabilities | None" = None
    dtype_limits: Mapping[str, "Capabilities"] = field(default_factory=dict)

    def __post_init__(self):  # a hashable, read-only view of the per-dtype limits
        object.__setattr__(self, "dtype_limits", _FrozenLimits(self.dtype_limits))

    def _structural_reasons(self, spec: ConvSpec) -> list[str]:
        """Every way ``spec``'s shape, stride, padding, ... fall outside these limits (not dtype)."""
        reasons = []
        if self.max_stride is not None and max(spec.stride) > self.max_stride:
            reasons.append(f"stride {spec.stride} (max {self.max_stride})")
        if self.equal_strides and spec.stride[0] != spec.stride[1]:
            reasons.append(f"stride {spec.stride} (one stride for both axes only)")
        if self.max_dilation is not None and max(spec.dilation) > self.max_dilation:
            reasons.append(f"dilation {spec.dilation} (max {self.max_dilation})")
        (pt, pb), (pl, pr) = spec.padding
        if not self.asymmetric_padding and (pt != pb or pl != pr):
            reasons.append(f"asymmetric padding {spec.padding}")
        if self.valid_only and (pt or pb or pl or pr):
            reasons.append(f"padding {spec.padding} ('valid' only)")
        if not self.groups and spec.groups != 1:
            reasons.append(f"groups={spec.groups}")
        if not self.bias and spec.bias:
            reasons.append("bias")
        if self.bias_required and not spec.bias:
            reasons.append("bias absent (bias required)")
        for k in (spec.kh, spec.kw):
            if k < self.kernel_min or (self.kernel_max is not None and k > self.kernel_max):
                reasons.append(f"kernel {spec.kh}x{spec.kw} (sizes {self.kernel_min}..{self.kernel_max or 'any'})")
                break
        if self.square_kernel and spec.kh != spec.kw:
            reasons.append(f"kernel {spec.kh}x{spec.kw} (square kernels only)")
        if self.max_elements is not None and spec.elements > self.max_elements:
            reasons.append(f"{spec.elements} elements (max {self.max_elements})")
        return reasons

    def unsupported_reasons(self, spec: ConvSpec) -> list[str]:
        """Every way ``spec`` falls outside these capabilities (empty: supported)."""
        reasons = []
        if spec.dtype not in self.dtypes:
            reasons.append(f"dtype {spec.dtype} (supports {', '.join(self.dtypes)})")
        reasons += self._structural_reasons(spec)
        limits = self.dtype_limits.get(spec.dtype)
        if limits is not None:
            reasons += [f"{r} in {spec.dtype}" for r in limits._structural_reasons(spec)]
        return reasons

    def backward_reasons(self, spec: ConvSpec) -> list[str]:
        """Why the backward pass of a (forward-supported) ``spec`` is not declared (empty: it is)."""
        if not self.backward:
            return ["backward"]
        reasons = []
        limits = self.dtype_limits.get(spec.dtype)
        if limits is not None and not limits.backward:
            reasons.append(f"backward in {spec.dtype}")
        if self.backward_limits is not None:
            reasons += [f"backward with {r}" for r in self.backward_limits._structural_reasons(spec)]
        return reasons

    def summary(self) -> str:
        parts = [
            "/".join(d.replace("bfloat", "bf").replace("float", "f") for d in self.dtypes),
            f"stride<={self.max_stride}" if self.max_stride else "any stride",
            "no dilation" if self.max_dilation == 1 else
            (f"dilation<={self.max_dilation}" if self.max_dilation else "any dilation"),
            "asym pad" if self.asymmetric_padding else "sym pad only",
            "groups" if self.groups else "no groups",
            f"k {self.kernel_min}..{self.kernel_max or 'any'}",
            "fwd+bwd" if self.backward else "fwd only",
        ]
        parts += [text for flag, text in ((self.equal_strides, "one stride for both axes"),
                                          (self.square_kernel, "square kernels only"),
                                          (self.valid_only, "'valid' padding only"),
                                          (self.bias_required, "bias required"),
                                          (not self.bias, "no bias")) if flag]
        if self.max_elements:
            parts.append(f"<= {self.max_elements} elements")
        if not self.nonfinite_inputs:
            parts.append("NaN/Inf inputs not declared")
        if self.backward_limits is not None and self.backward:
            parts.append(f"backward only with: {self.backward_limits.limits_text()}")
        for dtype, limits in self.dtype_limits.items():
            text = limits.limits_text(with_backward=True)
            parts.append(f"{dtype}: {text}")
        return ", ".join(parts)

    def limits_text(self, with_backward: bool = False) -> str:
        """The structural limits alone (of a nested Capabilities), as text."""
        default = Capabilities()
        parts = [p for p in self.summary().split(", ")[1:] if p not in default.summary().split(", ")]
        if not with_backward:
            parts = [p for p in parts if p != "fwd only"]
        return " ".join(parts) or "no extra limits"


class _FrozenLimits(Mapping):
    """``dtype_limits`` as an immutable, hashable mapping (Capabilities is frozen)."""

    def __init__(self, items):
        self._items = tuple(sorted(dict(items).items()))
        for dtype, limits in self._items:
            if not isinstance(limits, Capabilities):
                raise TypeError(f"dtype_limits[{dtype!r}] is not a Capabilities")

    def __getitem__(self, key):
        for k, v in self._items:
            if k == key:
                return v
        raise KeyError(key)

    def __iter__(self):
        return (k for k, _ in self._items)

    def __len__(self):
        return len(self._items)

    def __hash__(self):
        return hash(self._items)

    def __eq__(self, other):
        return isinstance(other, Mapping) and dict(self) == dict(other)

    def __repr__(self):
        return repr(dict(self._items))


class ConvPlugin:
    """Base class of every conv2d implementation under test.

    Arrays arrive in the declared ``layout``: NCHW x / OIHW w / NCHW y (default), or
    NHWC x / HWIO w / NHWC y. ``b`` is ``None`` when ``spec.bias`` is false, and then
    ``backward`` returns ``db=None``. The harness converts layouts, checks shapes, dtypes,
    aliasing and input mutation, and compares against float64 oracles within ``error_model``.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    capabilities: ClassVar[Capabilities] = Capabilities()
    error_model: ClassVar[ErrorModel] = DirectSum()
    layout: ClassVar[str] = "NCHW"
    backward_method: ClassVar[str] = ""   # e.g. "dw by direct summation"; shown by `conv-oracle list`
    # A plugin wrapping a library (impls/frameworks/) imports it lazily and declares:
    family: ClassVar[str] = ""            # "framework": checked by `report --frameworks`, not by default
    requires: ClassVar[tuple[str, ...]] = ()   # importable modules; one missing -> listed unavailable
    install: ClassVar[str] = ""           # the command that installs them, shown when they are missing
    environment: ClassVar[dict[str, str]] = {}  # settings applied before the library is imported,
    #                                             in the worker process that runs the plugin

    @classmethod
    def unavailable_reason(cls) -> str | None:
        """Why this plugin cannot run here (None: it can). Default: a module of ``requires``
        that cannot be found (checked without importing it). Override for e.g. a CUDA device."""
        missing = [m for m in cls.requires if importlib.util.find_spec(m) is None]
        if not missing:
            return None
        return f"{', '.join(missing)} not installed" + (f": {cls.install}" if cls.install else "")

    def setup(self) -> None:
        """Import and configure the library (threads, flags) ahead of the first case; called in the
        worker after ``environment`` is applied. Default: nothing (forward imports lazily)."""

    def versions(self) -> dict[str, str]:
        """Versions of the distributions providing ``requires`` (for reports and reproductions)."""
        from importlib import metadata

        dists = metadata.packages_distributions()
        out = {}
        for module in self.requires:
            for dist in dists.get(module.split(".")[0], []):
                try:
                    out[dist] = metadata.version(dist)
                except metadata.PackageNotFoundError:
                    pass
        return out

    def forward(self, x, w, b, spec: ConvSpec):
        raise NotImplementedError

    def backward(self, x, w, b, gy, spec: ConvSpec):
        """Return (dx, dw, db) for the upstream gradient ``gy`` of ``forward``'s output."""
        raise NotSupported(f"{self.name}: backward is not implemented")

    # Helper for plugin authors: call first in forward/backward.
    def check_supported(self, spec: ConvSpec, *, backward: bool = False) -> None:
        reasons = self.capabilities.unsupported_reasons(spec)
        if backward and not reasons:
            reasons += self.capabilities.backward_reasons(spec)
        if reasons:
            raise NotSupported(f"{self.name} does not support {spec.descriptor()}: " + "; ".join(reasons))


def apply_environment(plugin: ConvPlugin) -> list[str]:
    """Set the plugin's declared ``environment`` in this process, before its library is
    imported. Returns the modules of ``requires`` already imported, for which the settings
    may come too late (run such a plugin in its worker: ``conv_oracle.isolation``)."""
    if not plugin.environment:
        return []
    os.environ.update({k: str(v) for k, v in plugin.environment.items()})
    return [m for m in plugin.requires if m in sys.modules]


def validate_plugin(obj) -> ConvPlugin:
    """Instantiate and sanity-check a loaded object; raise TypeError saying what is wrong."""
    if isinstance(obj, type):
        if not issubclass(obj, ConvPlugin):
            raise TypeError(f"{obj.__qualname__} is not a subclass of conv_oracle.ConvPlugin")
        obj = obj()
    if not isinstance(obj, ConvPlugin):
        raise TypeError(f"{type(obj).__qualname__} object is not a conv_oracle.ConvPlugin")
    problems = []
    if not isinstance(obj.name, str) or not obj.name:
        problems.append("no 'name'")
    if not isinstance(obj.description, str) or not obj.description:
        problems.append("no 'description'")
    if not isinstance(obj.capabilities, Capabilities):
        problems.append("'capabilities' is not a Capabilities")
    if not isinstance(obj.error_model, ErrorModel):
        problems.append("'error_model' is not an ErrorModel")
    if not isinstance(obj.environment, dict) or not all(isinstance(k, str) for k in obj.environment):
        problems.append("'environment' is not a dict of variable names to values")
    if obj.layout not in LAYOUTS:
        problems.append(f"layout {obj.layout!r} not in {LAYOUTS}")
    if type(obj).forward is ConvPlugin.forward:
        problems.append("'forward' is not implemented")
    if isinstance(obj.capabilities, Capabilities):
        from .spec import DTYPE_TAGS

        dtypes = obj.capabilities.dtypes
        unknown = [d for d in dtypes if d not in DTYPE_TAGS] if isinstance(dtypes, (tuple, list)) else [dtypes]
        if unknown or not dtypes:
            problems.append(f"capabilities.dtypes {dtypes!r}: {', '.join(map(repr, unknown)) or 'none'} not among "
                            f"the dtypes the harness knows ({', '.join(sorted(DTYPE_TAGS))})")
    if isinstance(obj.capabilities, Capabilities) and obj.capabilities.backward \
            and type(obj).backward is ConvPlugin.backward:
        problems.append("declares backward but does not implement 'backward'")
    if problems:
        raise TypeError(f"malformed plugin {obj.name or type(obj).__qualname__}: " + "; ".join(problems))
    return obj
