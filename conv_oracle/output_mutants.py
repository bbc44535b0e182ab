"""Plugin-agnostic output mutants: wrap any plugin and perturb its answers the way real bugs do.

Where :mod:`conv_oracle.mutants` plants bugs in the source of the loop reference, these wrap
the outputs of *any* plugin, built-in or third-party, so ``conv-oracle selftest --impl NAME``
measures how much of a wrong answer the harness catches for that plugin, its capabilities
and its error model (a loose bound or narrow capabilities show as a lower detection rate):

* ``drop_bias``: y without the bias;
* ``swap_output_axes``: y with its h and w axes swapped (a shape error unless square);
* ``round_y``: y rounded to the next lower format's precision (f64 -> f32, f32 -> f16, f16 -> bf16);
* ``noise_bound_units``: y plus 3 units of the plugin's own declared bound, random signs;
* ``zero_dx``: the input gradient returned as zeros;
* ``dw_over_n``: the kernel gradient divided by the batch size N.

A mutant caught on a case counts as detected only when the plugin itself, unmutated, passes
that same case (replayed the same way): a plugin that fails by itself would otherwise "detect"
every mutant. When it does not, the detection rate is *not measured* and says so. ``isolated``
runs each mutant as ``check`` runs a plugin: in a worker that loads the plugin by its registry
name, applies its declared ``environment`` and ``setup``, then wraps it.
"""
from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass
from functools import partial

import numpy as np

from .plugin import ConvPlugin
from .runner import plugin_name

# axes of the spatial dimensions and the channel axis, per layout, of y (x, gy) and of w (dw)
_HW = {"NCHW": (2, 3), "NHWC": (1, 2)}
_CHANNEL = {"NCHW": 1, "NHWC": 3}
# the next lower format's significand bits: float64 -> float32, float32 -> float16, float16 -> bfloat16
_LOWER_SIGNIFICAND = {"float64": 24, "float32": 11, "float16": 8, "bfloat16": 5}


@dataclass(frozen=True)
class OutputMutant:
    name: str
    description: str
    needs: str = ""          # "bias" | "backward" | "": what the plugin must declare for it to apply


OUTPUT_MUTANTS = [
    OutputMutant("drop_bias", "y without the bias", "bias"),
    OutputMutant("swap_output_axes", "y with its h and w axes swapped"),
    OutputMutant("round_y", "y rounded to the next lower precision (f64->f32, f32->f16, f16->bf16)"),
    OutputMutant("noise_bound_units", "y plus 3 units of the declared bound, random signs"),
    OutputMutant("zero_dx", "dx returned as zeros", "backward"),
    OutputMutant("dw_over_n", "dw divided by the batch size N", "backward"),
]
BY_NAME = {m.name: m for m in OUTPUT_MUTANTS}


def round_to_bits(a: np.ndarray, bits: int) -> np.ndarray:
    """``a`` rounded to ``bits`` significand bits (round half to even), same dtype."""
    m, e = np.frexp(a.astype(np.float64))
    return np.ldexp(np.round(m * 2.0**bits) / 2.0**bits, e).astype(a.dtype)


def _to_nchw(layout: str, x, w, b, gy):
    if layout == "NHWC":       # x: NHWC -> NCHW, w: HWIO -> OIHW
        return x.transpose(0, 3, 1, 2), w.transpose(3, 2, 0, 1), b, None if gy is None else gy.transpose(0, 3, 1, 2)
    return x, w, b, gy


def _declared_y_bound(plugin: ConvPlugin, spec, x, w, b) -> np.ndarray:
    """The plugin's own declared bound on y for these inputs (in the plugin's layout)."""
    from . import bounds as B
    from .cases import CaseArrays
    from .oracles import torch_oracle

    xn, wn, bn, _ = _to_nchw(plugin.layout, x, w, b, None)
    a64 = CaseArrays(xn, wn, bn, np.zeros(spec.y_shape)).as_float64()
    scale = torch_oracle.magnitudes(spec, a64.x, a64.w, a64.b, a64.gy)
    bound = B.checked_model_bounds(plugin.error_model, B.bound_context(spec, a64, scale))["y"]
    return bound.transpose(0, 2, 3, 1) if plugin.layout == "NHWC" else bound


class MutatedPlugin(ConvPlugin):
    """``inner`` with one output mutant applied; everything it declares is inner's."""

    def __init__(self, inner: ConvPlugin, mutant: str):
        self.inner, self.mutant = inner, BY_NAME[mutant]
        self.name = f"{inner.name}+{mutant}"
        self.registry_name = f"{plugin_name(inner)}+{mutant}"
        self.description = f"{inner.description} ({self.mutant.description})"
        self.capabilities, self.error_model, self.layout = inner.capabilities, inner.error_model, inner.layout
        self.backward_method = inner.backward_method
        self.family, self.requires, self.install = inner.family, inner.requires, inner.install
        self.environment = inner.environment

    def setup(self) -> None:
        self.inner.setup()

    def versions(self) -> dict[str, str]:
        return self.inner.versions()

    def forward(self, x, w, b, spec):
        y = self.inner.forward(x, w, b, spec)
        if not isinstance(y, np.ndarray):
            return y
        m, hw = self.mutant.name, _HW[self.layout]
        if m == "drop_bias" and b is not None:
            shape = [1, 1, 1, 1]
            shape[_CHANNEL[self.layout]] = -1
            return (y - b.reshape(shape)).astype(y.dtype)
        if m == "swap_output_axes":
            return np.ascontiguousarray(np.swapaxes(y, *hw))
        if m == "round_y":
            return round_to_bits(y, _LOWER_SIGNIFICAND.get(str(y.dtype), 11))
        if m == "noise_bound_units":
            rng = np.random.default_rng(0)
            bound = _declared_y_bound(self.inner, spec, x, w, b)
            signs = rng.choice((-1.0, 1.0), size=y.shape)
            finite = np.isfinite(bound)       # no bound where NaN/Inf inputs reach: leave those alone
            noise = np.where(finite, 3.0 * np.where(finite, bound, 0.0) * signs, 0.0)
            return (y.astype(np.float64) + noise).astype(y.dtype)
        return y

    def backward(self, x, w, b, gy, spec):
        dx, dw, db = self.inner.backward(x, w, b, gy, spec)
        if self.mutant.name == "zero_dx" and isinstance(dx, np.ndarray):
            dx = np.zeros_like(dx)
        if self.mutant.name == "dw_over_n" and isinstance(dw, np.ndarray):
            dw = (dw / spec.n).astype(dw.dtype)
        return dx, dw, db


def applicable(plugin: ConvPlugin) -> list[OutputMutant]:
    caps = plugin.capabilities
    return [m for m in OUTPUT_MUTANTS if not m.needs or getattr(caps, m.needs)]


@dataclass
class Detection:
    impl: str
    mutant: str
    description: str
    detected: bool
    check: str = ""          # which check caught it
    examples: int = 0        # cases run until the first failure (or in total)
    evidence: str = ""
    measured: bool = True    # False: the plugin fails the catching case unmutated (no detection measured)

    def to_dict(self) -> dict:
        return self.__dict__.copy()


def detect(plugin: ConvPlugin, profile: str = "ci", names: list[str] | None = None, on_result=None, *,
           isolated: bool = False, timeout: float | None = None, memory_limit: int | None = None) -> list[Detection]:
    """Run the engine on every applicable output mutant of ``plugin``, in this process or, with
    ``isolated``, each mutant in a worker of its own (``timeout``, ``memory_limit``: the worker's;
    None: the isolation defaults); the first case that catches a mutant is replayed on the plugin
    unmutated, the same way, and a detection counts only if the plugin passes it there."""
    from .engine import replay
    from .isolation import DEFAULT_MEMORY_LIMIT, IsolatedExecutor
    from .runner import single_threaded
    from .selftest import first_caught, outcome_of

    name = plugin_name(plugin)
    limit = DEFAULT_MEMORY_LIMIT if memory_limit is None else memory_limit

    def executor(wrap=None):
        return (IsolatedExecutor(name, timeout=timeout, memory_limit=limit, wrap=wrap) if isolated
                else nullcontext())

    out = []
    with executor() as unmutated:
        for m in applicable(plugin):
            if names and m.name not in names:
                continue
            with executor(partial(MutatedPlugin, mutant=m.name)) as mutated:
                summary, first = first_caught(MutatedPlugin(plugin, m.name), profile, mutated)
            o = outcome_of(summary, first, m.name, "output")
            d = Detection(name, m.name, m.description, o.killed, o.check, o.examples, o.evidence)
            if first is not None:
                with single_threaded():
                    control = replay(plugin, first, unmutated)
                if not control.ok:
                    d.detected, d.measured = False, False
                    cause = control.detail.strip().splitlines()[0] if control.detail.strip() else ""
                    d.evidence = (f"{name} itself fails the case that caught it: {control.kind}"
                                  f"{f' ({cause})' if cause else ''} on "
                                  f"{control.descriptor} seed {control.seed} fill {control.fill}; "
                                  f"replay: {control.replay()}")
            out.append(d)
            if on_result:
                on_result(d)
    return out


def rate(detections: list[Detection]) -> str:
    """'caught/applicable', or why no rate was measured."""
    if not detections:
        return "-"
    unmeasured = [d for d in detections if not d.measured]
    if unmeasured:
        return (f"not measured: the plugin fails unmutated the case that caught {len(unmeasured)} of "
                f"{len(detections)} mutants")
    return f"{sum(d.detected for d in detections)}/{len(detections)}"
