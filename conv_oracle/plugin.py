"""The plugin contract: what an implementation declares and the two calls it answers.

A plugin is a subclass of :class:`ConvPlugin` (or an instance of one) exposed through the
``conv_oracle.impls`` entry-point group, or named directly as ``module:attr``.
Built-in implementations in ``impls/`` use exactly this contract and nothing more.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .bounds import DirectSum, ErrorModel
from .spec import ConvSpec

LAYOUTS = ("NCHW", "NHWC")  # NCHW pairs with OIHW weights, NHWC with HWIO


class NotSupported(Exception):
    """Raised by a plugin for a configuration outside its declared capabilities."""


@dataclass(frozen=True)
class Capabilities:
    """What an implementation handles. ``None`` means 'no limit'."""

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

    def unsupported_reasons(self, spec: ConvSpec) -> list[str]:
        """Every way ``spec`` falls outside these capabilities (empty: supported)."""
        reasons = []
        if spec.dtype not in self.dtypes:
            reasons.append(f"dtype {spec.dtype} (supports {', '.join(self.dtypes)})")
        if self.max_stride is not None and max(spec.stride) > self.max_stride:
            reasons.append(f"stride {spec.stride} (max {self.max_stride})")
        if self.max_dilation is not None and max(spec.dilation) > self.max_dilation:
            reasons.append(f"dilation {spec.dilation} (max {self.max_dilation})")
        (pt, pb), (pl, pr) = spec.padding
        if not self.asymmetric_padding and (pt != pb or pl != pr):
            reasons.append(f"asymmetric padding {spec.padding}")
        if not self.groups and spec.groups != 1:
            reasons.append(f"groups={spec.groups}")
        if not self.bias and spec.bias:
            reasons.append("bias")
        for k in (spec.kh, spec.kw):
            if k < self.kernel_min or (self.kernel_max is not None and k > self.kernel_max):
                reasons.append(f"kernel {spec.kh}x{spec.kw} (sizes {self.kernel_min}..{self.kernel_max or 'any'})")
                break
        if self.max_elements is not None and spec.elements > self.max_elements:
            reasons.append(f"{spec.elements} elements (max {self.max_elements})")
        return reasons

    def summary(self) -> str:
        parts = [
            "/".join(d.replace("float", "f") for d in self.dtypes),
            f"stride<={self.max_stride}" if self.max_stride else "any stride",
            "no dilation" if self.max_dilation == 1 else
            (f"dilation<={self.max_dilation}" if self.max_dilation else "any dilation"),
            "asym pad" if self.asymmetric_padding else "sym pad only",
            "groups" if self.groups else "no groups",
            f"k {self.kernel_min}..{self.kernel_max or 'any'}",
            "fwd+bwd" if self.backward else "fwd only",
        ]
        if self.max_elements:
            parts.append(f"<= {self.max_elements} elements")
        if not self.nonfinite_inputs:
            parts.append("NaN/Inf inputs not declared")
        return ", ".join(parts)


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

    def forward(self, x, w, b, spec: ConvSpec):
        raise NotImplementedError

    def backward(self, x, w, b, gy, spec: ConvSpec):
        """Return (dx, dw, db) for the upstream gradient ``gy`` of ``forward``'s output."""
        raise NotSupported(f"{self.name}: backward is not implemented")

    # Helper for plugin authors: call first in forward/backward.
    def check_supported(self, spec: ConvSpec, *, backward: bool = False) -> None:
        reasons = self.capabilities.unsupported_reasons(spec)
        if backward and not self.capabilities.backward:
            reasons.append("backward")
        if reasons:
            raise NotSupported(f"{self.name} does not support {spec.descriptor()}: " + "; ".join(reasons))


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
    if obj.layout not in LAYOUTS:
        problems.append(f"layout {obj.layout!r} not in {LAYOUTS}")
    if type(obj).forward is ConvPlugin.forward:
        problems.append("'forward' is not implemented")
    if isinstance(obj.capabilities, Capabilities) and obj.capabilities.backward \
            and type(obj).backward is ConvPlugin.backward:
        problems.append("declares backward but does not implement 'backward'")
    if problems:
        raise TypeError(f"malformed plugin {obj.name or type(obj).__qualname__}: " + "; ".join(problems))
    return obj
