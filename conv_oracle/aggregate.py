"""Records -> the conformance report's data. No plugin, oracle or JAX call happens here.

The input is the list of records a conformance run streams (``conv_oracle.stream``): one
``report`` record (run settings, environment), per implementation a ``plugin`` record (its
declaration, or why it is unavailable), its ``case``, ``failure`` and ``run`` records from the
engine, and one ``study`` record per study. :func:`conformance_from_records` condenses them
into the JSON-serialisable dict documented in ``docs/report-schema.md``; the live report and
``conv-oracle report --from-jsonl`` both go through it, so they cannot differ.
"""
from __future__ import annotations

import math
from statistics import median

from .engine import CampaignSummary, summary_from_records
from .spec import ConvSpec

SCHEMA = "conv-oracle/conformance/1"
OUTPUTS = ("y", "dx", "dw", "db")
# (id, label, predicate on a spec): a case "exercises" a feature when the predicate holds.
FEATURES = (
    ("stride", "stride > 1", lambda s: max(s.stride) > 1),
    ("asymmetric_padding", "asymmetric padding", lambda s: s.padding[0][0] != s.padding[0][1]
                                                       or s.padding[1][0] != s.padding[1][1]),
    ("dilation", "dilation > 1", lambda s: max(s.dilation) > 1),
    ("groups", "groups > 1", lambda s: s.groups > 1),
    ("bfloat16", "bfloat16", lambda s: s.dtype == "bfloat16"),
    ("float16", "float16", lambda s: s.dtype == "float16"),
    ("float32", "float32", lambda s: s.dtype == "float32"),
    ("float64", "float64", lambda s: s.dtype == "float64"),
    ("bias", "bias", lambda s: s.bias),
)
# Cell states, most severe first: a cell shows the most severe state among its cases.
STATES = ("fail", "answered", "pass", "refused", "not-exercised")
STATE_TEXT = {
    "fail": "fail",
    "answered": "declared unsupported, answered anyway",
    "pass": "pass",
    "refused": "declared unsupported, refused cleanly",
    "not-exercised": "not exercised",
}


# ---- JSON hygiene -----------------------------------------------------------------------------
def _finite(x: float):
    """JSON has no inf/nan: they are written as the strings "inf", "-inf", "nan"."""
    if isinstance(x, float) and not math.isfinite(x):
        return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")
    return x


def clean(obj):
    if isinstance(obj, dict):
        return {str(k): clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [clean(v) for v in obj]
    if isinstance(obj, float):
        return _finite(obj)
    if hasattr(obj, "item") and not isinstance(obj, (str, bytes)):  # numpy scalars
        return clean(obj.item())
    return obj


# ---- the feature matrix -----------------------------------------------------------------------
def _reason_features(reason: str) -> list[str]:
    """Features a declared-unsupported reason (Capabilities.unsupported_reasons) is about."""
    if reason.startswith("dtype "):
        return [reason.split()[1]]
    for prefix, feature in (("stride", "stride"), ("dilation", "dilation"), ("asymmetric padding",
                            "asymmetric_padding"), ("groups", "groups"), ("bias", "bias")):
        if reason.startswith(prefix):
            return [feature]
    return []  # kernel size, element budget: not a matrix column


def _rows_checked(spec: ConvSpec, backward: bool) -> list[str]:
    rows = ["y"]
    if backward:
        rows += ["dx", "dw"] + (["db"] if spec.bias else [])
    return rows


def _matrix(results, backward: bool) -> dict:
    """Counts and state per (output, feature). A declared-unsupported case is only called
    forward by the harness; its refusal (or answer) counts for every output the
    implementation would compute, under the features its unsupported reasons name."""
    m = {o: {f: {"pass": 0, "fail": 0, "refused": 0, "answered": 0} for f, _, _ in FEATURES} for o in OUTPUTS}
    for r in results:
        if r.search == "relation":     # the relations have their own section
            continue
        spec = ConvSpec.parse(r.descriptor)
        if r.unsupported:
            outcome = "refused" if r.status == "refused" else (
                "answered" if r.kind == "answered-unsupported" else "fail")
            feats = {f for reason in r.unsupported for f in _reason_features(reason)}
            for o in _rows_checked(spec, backward):
                for f in feats:
                    m[o][f][outcome] += 1
            continue
        feats = [f for f, _, pred in FEATURES if pred(spec)]
        if r.verdicts:
            per_output = {v.output: v.ok for v in r.verdicts}
        else:  # failed before any comparison (raised, mutated, aliased, model, refused a supported case)
            per_output = {o: r.status == "pass" for o in _rows_checked(spec, backward)}
        for o, ok in per_output.items():
            if o in m:
                for f in feats:
                    m[o][f]["pass" if ok else "fail"] += 1
    for o in OUTPUTS:
        for f, _, _ in FEATURES:
            cell = m[o][f]
            cell["state"] = next((s for s in STATES[:-1] if cell[s]), "not-exercised")
    return m


# ---- statistics -------------------------------------------------------------------------------
def _oracle_verdicts(results, output: str):
    return [v for r in results if r.search == "oracle" and not r.unsupported for v in r.verdicts if v.output == output]


def _error_stats(results) -> dict:
    """Per output: verdicts checked, failed, exact-required ones, error/bound statistics over the
    verdicts with a non-zero bound, and the bound power (median ||bound|| / ||y||)."""
    stats = {}
    for o in OUTPUTS:
        vs = _oracle_verdicts(results, o)
        if not vs:
            continue
        bounded = [v for v in vs if not v.exact_required and v.kind in ("ok", "bound")]
        ratios = [v.max_ratio for v in bounded]
        powers = [v.bound_power for v in bounded if v.bound_power is not None]
        exact = [v for v in vs if v.exact_required]
        stats[o] = {
            "checked": len(vs), "failed": sum(not v.ok for v in vs),
            "exact_checked": len(exact), "exact_failed": sum(not v.ok for v in exact),
            "bounded": len(ratios),
            "max_ratio": max(ratios) if ratios else None,
            "median_ratio": median(ratios) if ratios else None,
            "median_of_medians": median(v.median_ratio for v in bounded) if ratios else None,
            "bound_power": median(powers) if powers else None,
            "bound_power_max": max(powers) if powers else None,
        }
    return stats


def _relation_stats(summary: CampaignSummary) -> dict:
    out = {}
    for r in summary.results:
        if r.search == "relation":
            s = out.setdefault(r.relation, {"checked": 0, "failed": 0})
            s["checked"] += 1
            s["failed"] += not r.ok
    return {name: {**s, "skipped": ""} for name, s in sorted(out.items())} | {
        k.split(":", 1)[1]: {"checked": 0, "failed": 0, "skipped": why}
        for k, why in summary.skipped.items() if k.startswith("relation:")}


def _case_ref(r) -> dict:
    return {"descriptor": r.descriptor, "seed": r.seed, "fill": r.fill, "replay": r.replay()}


def _failure(finding) -> dict:
    r = finding.shrunk
    spec = ConvSpec.parse(r.descriptor)
    worst = [{"output": v.output, "kind": v.kind, "error": v.worst_error, "bound": v.worst_bound,
              "ratio": v.max_ratio, "index": list(v.worst_index) if v.worst_index is not None else None,
              "got": v.worst_got, "expected": v.worst_expected, "expected_zero": v.expected_zero,
              "mismatched": v.mismatched, "total": v.total, "exact_required": v.exact_required,
              "detail": v.detail, "message": v.message()}
             for v in r.verdicts if not v.ok]
    return {"descriptor": r.descriptor, "seed": r.seed, "fill": r.fill, "kind": r.kind, "search": finding.search,
            "relation": r.relation, "outputs": r.failed_output(), "detail": r.detail, "hint": r.hint,
            "unsupported": list(r.unsupported), "worst": worst, "replay": r.replay(), "message": r.message(),
            "first": _case_ref(finding.first),
            "spec": {"stride": list(spec.stride), "padding": [list(p) for p in spec.padding],
                     "dilation": list(spec.dilation), "groups": spec.groups, "bias": spec.bias,
                     "dtype": spec.dtype}}


def implementation_entry(declared: dict, summary: CampaignSummary, backward: bool) -> dict:
    """The report's record of one fuzzed implementation: its declaration and its summary condensed."""
    results = summary.results
    d = dict(declared)
    d.update(
        status=summary.verdict, error=None, insufficient=summary.insufficient or None,
        examples=summary.examples, examples_asked=summary.examples_asked, shrink_calls=summary.shrink_calls,
        honesty_examples=summary.honesty_examples, cases=len(results),
        passed=sum(r.status == "pass" for r in results), refused=sum(r.status == "refused" for r in results),
        failed_cases=sum(r.status == "fail" for r in results), cross_checked=summary.cross_checked,
        stopped_by=summary.stopped_by or None, families=dict(summary.families),
        matrix=_matrix(results, backward),
        errors=_error_stats(results),
        relations=_relation_stats(summary),
        failures=[_failure(f) for f in summary.findings],
        disagreements=[{**x.to_dict(), "impl": summary.impl} for x in summary.disagreements],
        seconds=round(summary.seconds, 3),
        # per-case max error/bound of y..db (non-exact cases), for the distribution plot
        ratios={o: [v.max_ratio for v in _oracle_verdicts(results, o)
                    if not v.exact_required and v.kind in ("ok", "bound")] for o in OUTPUTS},
    )
    return d


# ---- the whole report -------------------------------------------------------------------------
def conformance_from_records(records: list[dict]) -> dict:
    """The conformance report of a run, from its records alone."""
    head = next((r for r in records if r.get("record") == "report"), {})
    summaries = summary_from_records(records)
    entries, names = [], []
    for rec in records:
        if rec.get("record") != "plugin":
            continue
        declared = {k: v for k, v in rec.items() if k != "record"}
        names.append(rec["name"])
        if rec.get("status") in ("unavailable", "error"):
            entries.append(declared)
            continue
        summary = summaries.get(rec["name"]) or CampaignSummary(rec["name"], head.get("profile", ""))
        entries.append(implementation_entry(declared, summary, bool(rec.get("declared", {}).get("backward", True))))
    # case records of a plugin with no plugin record (a campaign's shards): judged all the same
    for impl, summary in summaries.items():
        if impl not in names:
            names.append(impl)
            entries.append(implementation_entry({"name": impl, "target": impl}, summary, True))
    studies = {r["key"]: r["data"] for r in records if r.get("record") == "study"}
    run = {k: head.get(k) for k in ("profile", "examples", "examples_per_impl", "seed")}
    run.update(impls=head.get("impls", names), jax_cross_check=bool(head.get("jax_cross_check")),
               seconds=head.get("seconds"), spec_families=head.get("spec_families", "not recorded"))
    return assemble(entries, run, dict(head.get("environment") or {}), studies, head.get("created", ""))


def assemble(entries: list[dict], run: dict, environment: dict, studies: dict, created: str, **sections) -> dict:
    """The report dict around its implementation entries; ``sections`` adds top-level sections
    (a campaign's shards and workers)."""
    disagreements = [d for e in entries for d in e.get("disagreements", [])]
    report = {
        "schema": SCHEMA,
        "created": created,
        "run": run,
        "environment": environment,
        "outputs": list(OUTPUTS),
        "features": [{"id": f, "label": label} for f, label, _ in FEATURES],
        "states": [{"id": s, "label": STATE_TEXT[s]} for s in STATES],
        "implementations": entries,
        "disagreements": disagreements,
        "studies": studies,
        "summary": {
            "implementations": len(entries),
            "passing": [e["name"] for e in entries if e["status"] == "pass"],
            "failing": [e["name"] for e in entries if e["status"] == "fail"],
            "insufficient": [e["name"] for e in entries if e["status"] == "insufficient"],
            "unavailable": [e["name"] for e in entries if e["status"] in ("unavailable", "error")],
            "failures": sum(len(e.get("failures", [])) for e in entries),
            "disagreements": len(disagreements),
        },
        **sections,
    }
    return clean(report)


def verdicts(report: dict) -> dict:
    """The part of a report that must not change between two runs with the same profile and
    seed: statuses, matrices, error statistics, failures, disagreements (no timings)."""
    keep = ("name", "status", "error", "examples", "honesty_examples", "cases", "passed", "refused",
            "failed_cases", "cross_checked", "matrix", "errors", "relations", "failures", "disagreements")
    return {"schema": report["schema"], "run": {k: report["run"][k] for k in ("profile", "examples", "seed", "impls")},
            "implementations": [{k: e.get(k) for k in keep} for e in report["implementations"]]}
