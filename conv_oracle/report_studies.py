"""The studies the conformance report carries: key -> adapter(profile, **overrides) returning a
JSON-able dict. A missing module or a failing study becomes {"unavailable": reason}; it never
stops the report. Studies reach plugins through the registry and the public API only.
"""
from __future__ import annotations

import time
import traceback

from .spec import ConvSpec

STUDY_KEYS = ("winograd_accuracy", "fft_tightness", "precision", "mutation_score", "output_mutants")


def _study_winograd_accuracy(profile: str, **overrides) -> dict:
    from .studies import winograd_accuracy

    return winograd_accuracy.run(**overrides)


def _study_fft_tightness(profile: str, **overrides) -> dict:
    """conv_oracle.studies.fft_bound condensed: error/bound per output and dtype, the (K, ratio)
    points of every case for the plot, and the half-scaled contrast with a per-element bound."""
    from .bounds import terms
    from .studies import fft_bound

    count = overrides.pop("count", {"ci": 60, "dev": 200, "thorough": 600}.get(profile, 60))
    layers = overrides.pop("layers", fft_bound.LAYER_CASES[:3] if profile == "ci" else fft_bound.LAYER_CASES)
    half = overrides.pop("half_scaled", ("n1c8h64w64f8k9p4b0 f32", "n1c8h64w64f8k9p4b0 f64"))
    t = fft_bound.tightness(count, 0, layers=layers, **overrides)
    rows = [{"output": o, "dtype": dtype, **s} for o, per in t["summary"].items() for dtype, s in per.items()]
    points = []
    for r in t["cases"]:
        spec = ConvSpec.parse(r["descriptor"])
        k = terms(spec)
        for o, v in r["outputs"].items():
            points.append({"output": o, "dtype": spec.dtype, "K": k[o], "ratio": v["max_ratio"]})
    halves = [fft_bound.half_scaled(d) for d in half]
    return {
        "study": "fft-bound-tightness", "title": "FFT error / normwise bound", "model": t["model"],
        "settings": {"random_cases": count, "layer_cases": list(layers), "seed": 0,
                     "fills": "normal and magnitudes, alternating",
                     "metric": "max over elements of error / (model bound + reference error)"},
        "rows": rows, "points": points, "failures": t["failures"],
        "half_scaled": halves,
        "notes": [f"model: {t['model']}",
                  "A ratio above 1 would be a bound violation (a finding); far below 1 means a loose bound.",
                  "half_scaled: one half of x scaled by 1e-4; a per-element gamma_K bound would falsely fail "
                  "the FFT there (gamma_K violations > 0) while the normwise bound holds."],
    }


def _study_precision(profile: str, impls=None, **overrides) -> dict:
    """conv_oracle.precision.study: the strictest standard accumulation model each implementation
    of the report meets on long reductions. Sized by profile: ci judges bfloat16 and float16 (the
    fit of the effective bits dominates its cost, ~1 s per implementation and dtype) with one spec
    per family; dev and thorough add float32 and two specs per family."""
    from . import precision

    overrides.setdefault("dtypes", ("bfloat16", "float16") if profile == "ci" else ("bfloat16", "float16", "float32"))
    return precision.study(profile, impls=tuple(impls or ("loop", "im2col")), **overrides)


def _study_mutation_score(profile: str, **overrides) -> dict:
    """The harness's own mutation score (conv-oracle selftest): planted bugs must be killed,
    correct summation-order variants must not be flagged."""
    from . import mutants, selftest

    outcomes = selftest.run_all(profile, overrides.get("names"))
    variants = [selftest.run_one(v, profile) for v in mutants.SUMMATION_ORDER_VARIANTS]
    killed = sum(o.killed for o in outcomes)
    return {
        "study": "mutation-score", "title": f"Mutation score of the harness: {killed}/{len(outcomes)} killed",
        "settings": {"profile": profile, "command": f"conv-oracle selftest --profile {profile}"},
        "rows": [{"mutant": o.mutant, "area": o.area, "killed": o.killed, "killed by": o.check,
                  "examples": o.examples, "evidence": o.evidence} for o in outcomes]
        + [{"mutant": f"correct: {o.mutant}", "area": o.area, "killed": o.killed,
            "killed by": o.check or "(not flagged, as it must be)", "examples": o.examples, "evidence": o.evidence}
           for o in variants],
        "notes": [f"score {killed}/{len(outcomes)} ({100 * killed / max(len(outcomes), 1):.0f}%); "
                  f"false alarms on correct summation orders: {sum(o.killed for o in variants)}"],
    }


def _study_output_mutants(profile: str, impls=None, mutants=None, **overrides) -> dict:
    """Plugin-agnostic output mutants (conv_oracle.output_mutants) of every implementation of the
    report: how much of a realistic wrong answer the harness catches for each, its detection rate."""
    from . import output_mutants, registry

    rows, rates = [], {}
    for name in impls or registry.family_names(""):
        found = output_mutants.detect(registry.load(name), profile, mutants)
        rates[name] = output_mutants.rate(found)
        rows += [{"implementation": name, "mutant": d.mutant, "detected": d.detected, "killed by": d.check or "-",
                  "examples": d.examples, "evidence": d.evidence or "-"} for d in found]
    return {"study": "output-mutants", "title": "Output mutants: detection rate per implementation",
            "settings": {"profile": profile, "command": f"conv-oracle selftest --impl NAME --profile {profile}"},
            "rates": rates, "rows": rows,
            "notes": [f"{name}: {r} output mutants detected" for name, r in rates.items()]
            + ["A mutant wraps the implementation and perturbs its outputs: " + "; ".join(
                f"{m.name} = {m.description}" for m in output_mutants.OUTPUT_MUTANTS) + "."]}


STUDY_ADAPTERS = {"winograd_accuracy": _study_winograd_accuracy, "fft_tightness": _study_fft_tightness,
                  "precision": _study_precision, "mutation_score": _study_mutation_score,
                  "output_mutants": _study_output_mutants}


def run_study(key: str, profile: str = "ci", overrides: dict | None = None) -> dict:
    """One study's data, or {"unavailable": reason}: a missing or failing study never stops the report."""
    t0 = time.perf_counter()
    try:
        data = STUDY_ADAPTERS[key](profile, **dict(overrides or {}))
        if not isinstance(data, dict):
            raise TypeError(f"study {key} returned {type(data).__name__}, expected a dict")
    except Exception as exc:
        return {"unavailable": f"{type(exc).__name__}: {exc}",
                "traceback": "".join(traceback.format_exc(limit=-4))}
    data.setdefault("seconds", round(time.perf_counter() - t0, 2))
    return data
