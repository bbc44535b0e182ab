"""Triage of a failing case in a real library: which of four things it is.

* ``library bug``: a crash, a hang, an exception that is not a missing feature, a mutated or
  aliased input, or an error outside every standard precision model;
* ``precision property``: outside the declared model but within a looser standard model, named
  by its key in the precision ladder of the case's dtype (:func:`conv_oracle.precision.standard_models`,
  with its subnormals-flushed variants): float32 accumulation (of float64 data), TF32 or bfloat16
  inputs, float16 or bfloat16 accumulation, the bias added after the output rounding, subnormals
  flushed;
* ``semantic difference``: a different output shape or dtype, NaN/Inf placed differently;
* ``adapter limitation``: the library does not implement a declared case ("not implemented",
  "unsupported"), or the adapter's declaration and refusals disagree.

A bound failure is re-judged against each model of that ladder, strictest first, on the same
case through the same worker: the first model that the failing outputs meet names the property.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass

import numpy as np

from . import bounds as B
from .compare import compare_output
from .plugin import ConvPlugin
from .precision import standard_models
from .spec import ConvSpec

LIBRARY_BUG, PRECISION, SEMANTIC, ADAPTER = ("library bug", "precision property", "semantic difference",
                                            "adapter limitation")
CATEGORIES = (LIBRARY_BUG, PRECISION, SEMANTIC, ADAPTER)
_MISSING_FEATURE = re.compile(r"not (yet )?(implemented|supported)|unimplemented|unsupported|no kernel|"
                              r"could not find an implementation|NotImplementedError", re.IGNORECASE)


@dataclass
class Triage:
    category: str
    reason: str
    model: str = ""          # the looser standard model met, for a precision property

    def to_dict(self) -> dict:
        return asdict(self)


def triage(plugin: ConvPlugin, result, executor=None) -> Triage:
    """Classify one failing ``CaseResult`` of ``plugin`` (``executor``: the worker to re-run it in)."""
    kind, detail = result.kind, result.detail or ""
    if kind.startswith("relation") and detail.split(" ", 1)[0] in ("raised", "not-supported"):
        kind = "raised"   # a relation's call failed: judged as that failure (its detail names it)
    if kind in FATAL:
        return Triage(LIBRARY_BUG, f"{kind}: {detail.splitlines()[0] if detail else kind} (contained by the worker)"
                      + _alone(plugin, result, executor))
    if kind == "raised":
        first = detail.splitlines()[0] if detail else "an exception"
        if _MISSING_FEATURE.search(detail):
            return Triage(ADAPTER, f"the library does not implement this declared case ({first}); "
                                   "the adapter must declare it unsupported")
        return Triage(LIBRARY_BUG, f"the library raised on a supported case: {first}")
    if kind in ("mutated-input", "aliases-input"):
        return Triage(LIBRARY_BUG, detail or kind)
    if kind in ("answered-unsupported", "refused-supported"):
        return Triage(ADAPTER, f"declaration and behaviour disagree: {detail}")
    if kind in ("shape", "dtype", "missing", "type", "unexpected"):
        return Triage(SEMANTIC, "; ".join(v.message() for v in result.verdicts if not v.ok) or detail)
    if kind == "nonfinite":
        return Triage(SEMANTIC, "NaN/Inf land elsewhere than a direct sum puts them: "
                      + "; ".join(v.message() for v in result.verdicts if not v.ok))
    if kind == "bound":
        return _triage_bound(plugin, result, executor)
    if kind.startswith("relation") and "do not fit the relation" in detail:
        return Triage(SEMANTIC, f"{kind}: {detail}")
    if kind.startswith("relation"):
        return Triage(LIBRARY_BUG, f"an oracle-free relation is violated ({kind}): "
                      + ("; ".join(v.message() for v in result.verdicts if not v.ok) or detail))
    return Triage(LIBRARY_BUG, f"{kind}: {detail}")


FATAL = ("crashed", "hang", "memory-limit")


def _alone(plugin: ConvPlugin, result, executor) -> str:
    """Whether a fatal fault recurs when its case runs alone in a fresh worker: one that does not
    needs the cases its worker ran before it (state that grows: a leak, a cache), and no
    standalone script of the case alone can show it."""
    if executor is None or not hasattr(executor, "restart"):
        return ""
    from .cases import make_arrays

    spec = ConvSpec.parse(result.descriptor)
    backward = any(v.output != "y" for v in result.verdicts) or not plugin.capabilities.backward_reasons(spec)
    executor.restart()
    again = executor(spec, make_arrays(spec, result.seed, result.fill), backward)
    executor.restart()                        # what comes next starts clean too
    if again.error_kind in FATAL:
        return f"; it recurred in a fresh worker running this case alone ({again.error_kind})"
    outcome = f"{again.error_kind}: {again.error.splitlines()[0]}" if again.error_kind else "it answered"
    return (f"; NOT reproduced in a fresh worker running this case alone ({outcome}): the fault needs what its "
            "worker ran before it (state that grows in the library or the adapter, or a limit of the harness)")


@dataclass
class Evidence:
    """One case re-run: its inputs, the plugin's outputs, the float64 truth and the bound context."""

    spec: ConvSpec
    arrays: object            # CaseArrays in the case's dtype
    out: dict | None
    execution: object         # the runner's Execution
    truth: dict
    ctx: B.BoundContext


def evidence(plugin: ConvPlugin, spec: ConvSpec, seed: int, fill: str, backward: bool, executor=None) -> Evidence:
    """Re-run one case (in ``executor``'s worker, or in process) and gather what judging it needs."""
    from .cases import make_arrays
    from .oracles import torch_oracle
    from .runner import execute

    arrays = make_arrays(spec, seed, fill)
    done = (executor or (lambda s_, a_, b_: execute(plugin, s_, a_, b_)))(spec, arrays, backward)
    a64 = arrays.as_float64()
    truth, scale = torch_oracle.reference(spec, a64.x, a64.w, a64.b, a64.gy)
    return Evidence(spec, arrays, done.out, done, truth, B.bound_context(spec, a64, scale, truth))


def within(model: B.ErrorModel, ev: Evidence, outputs, fill: str) -> bool | None:
    """Whether ``outputs`` of the re-run case meet ``model``'s bound (None: it gives no finite bound)."""
    try:
        limits = B.total_bounds(model, ev.ctx, fill)
    except B.ModelBoundError:
        return None
    if not all(np.isfinite(limits[o]).all() for o in outputs):
        return None
    return all(compare_output(o, ev.out.get(o), ev.truth[o], limits[o], ev.spec.dtype, ev.ctx.scale[o]).ok
               for o in outputs)


def _triage_bound(plugin: ConvPlugin, result, executor) -> Triage:
    spec = ConvSpec.parse(result.descriptor)
    bad = [v for v in result.verdicts if not v.ok]
    worst = max(bad, key=lambda v: v.max_ratio)
    what = f"{worst.output} error {worst.worst_error:.3g} is {worst.max_ratio:.3g}x the declared bound"
    backward = any(v.output != "y" for v in result.verdicts)
    ev = evidence(plugin, spec, result.seed, result.fill, backward, executor)
    if ev.out is None:
        return Triage(LIBRARY_BUG, f"{what}; the re-run failed: {ev.execution.error_kind} {ev.execution.error}")
    failing = [v.output for v in bad]
    if within(plugin.error_model, ev, failing, result.fill):
        return Triage(LIBRARY_BUG, f"{what}; the re-run met the bound: the library is not deterministic here")
    ladder = standard_models(flushed=True, dtype=spec.dtype)
    vacuous = []
    for standard in ladder:
        met = within(standard.model(), ev, failing, result.fill)
        if met:
            return Triage(PRECISION, f"{what} ({', '.join(failing)} failing); within the standard model "
                                     f"'{standard.key}' ({standard.label_for(spec.dtype)}: "
                                     f"{standard.model().describe()})", standard.key)
        if met is None:
            vacuous.append(standard.key)
    note = f"; {', '.join(vacuous)} gives no finite bound here (K u >= 1)" if vacuous else ""
    if _has_subnormal_inputs(ev):
        note += ("; the case has subnormal inputs: consistent with denormals-are-zero (DAZ) on inputs, "
                 "which no standard model here allows")
    return Triage(LIBRARY_BUG, f"{what}; outside every standard model "
                               f"({', '.join(s.key for s in ladder)}){note}")


def _has_subnormal_inputs(ev: Evidence) -> bool:
    tiny = 2.0 ** B.FORMATS[ev.spec.dtype][1]          # the smallest normal of the case's dtype
    return any(a is not None and bool(((a != 0) & (np.abs(a) < tiny)).any())
               for a in (ev.ctx.x, ev.ctx.w, ev.ctx.b, ev.ctx.gy))
