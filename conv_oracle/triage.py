"""Triage of a failing case in a real library: which of four things it is.

* ``library bug``: a crash, a hang, an exception that is not a missing feature, a mutated or
  aliased input, or an error outside every standard precision model;
* ``precision property``: outside the declared model but within a looser standard model,
  named (for float32: inputs rounded to TF32 or bfloat16, float16 or bfloat16 accumulation);
* ``semantic difference``: a different output shape or dtype, NaN/Inf placed differently;
* ``adapter limitation``: the library does not implement a declared case ("not implemented",
  "unsupported"), or the adapter's declaration and refusals disagree.

A bound failure is re-judged against each looser model, strictest first, on the same case
through the same worker: the first model the outputs meet names the property.
"""
from __future__ import annotations

import copy
import re
from dataclasses import asdict, dataclass

from . import bounds as B
from .plugin import ConvPlugin
from .runner import run_case
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


def looser_models(dtype: str) -> list[tuple[str, B.ErrorModel]]:
    """The standard models a library's conv may follow instead of the declared one, strictest
    first (each is a DirectSum declaration; those this bounds module cannot express are left out)."""
    ladder = {
        "float32": [("float32 accumulation of inputs rounded to TF32", dict(inputs="tfloat32")),
                    ("float32 accumulation of inputs rounded to bfloat16", dict(inputs="bfloat16")),
                    ("float16 accumulation", dict(accumulate="float16")),
                    ("bfloat16 accumulation", dict(accumulate="bfloat16"))],
        "float16": [("float16 accumulation (the storage type)", dict(accumulate="float16")),
                    ("bfloat16 accumulation", dict(accumulate="bfloat16"))],
        "bfloat16": [("bfloat16 accumulation (the storage type)", dict(accumulate="bfloat16"))],
        "float64": [("float32 accumulation", dict(accumulate="float32"))],
    }.get(dtype, [])
    out = []
    for name, declaration in ladder:
        if any(v not in getattr(B, "FORMATS", B.UNIT_ROUNDOFF) for v in declaration.values()):
            continue
        try:
            out.append((name, B.DirectSum(**declaration)))
        except (TypeError, ValueError):   # a declaration this version of bounds.py does not know
            continue
    return out


def triage(plugin: ConvPlugin, result, executor=None) -> Triage:
    """Classify one failing ``CaseResult`` of ``plugin`` (``executor``: the worker to re-run it in)."""
    kind, detail = result.kind, result.detail or ""
    if kind in ("crashed", "hang", "memory-limit"):
        return Triage(LIBRARY_BUG, f"{kind}: {detail.splitlines()[0] if detail else kind} (contained by the worker)")
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
    return Triage(LIBRARY_BUG, f"{kind}: {detail}")


def _triage_bound(plugin: ConvPlugin, result, executor) -> Triage:
    spec = ConvSpec.parse(result.descriptor)
    worst = max((v for v in result.verdicts if not v.ok), key=lambda v: v.max_ratio)
    what = f"{worst.output} error {worst.worst_error:.3g} is {worst.max_ratio:.3g}x the declared bound"
    outputs = [v.output for v in result.verdicts]
    backward = any(o != "y" for o in outputs)
    for name, model in looser_models(spec.dtype):
        variant = copy.copy(plugin)
        variant.error_model = model
        again = run_case(variant, spec, result.seed, result.fill, backward=backward, executor=executor)
        if again.ok:
            return Triage(PRECISION, f"{what}; within the standard model '{name}' ({model.describe()})", name)
        if again.kind != "bound":   # the case no longer fails the same way: say so rather than guess
            return Triage(LIBRARY_BUG, f"{what}; re-run gave {again.kind}: {again.detail}")
    return Triage(LIBRARY_BUG, f"{what}; outside every standard model "
                               f"({', '.join(n for n, _ in looser_models(spec.dtype)) or 'none known'})")
