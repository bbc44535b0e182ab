"""The conformance report: every implementation fuzzed against the oracles, in one document.

``build_conformance`` runs :func:`conv_oracle.fuzz.fuzz` on each implementation (one JAX
worker shared by all) and condenses the results into a JSON-serialisable dict whose
structure is documented in ``docs/report-schema.md`` (``"schema": "conv-oracle/conformance/1"``):

* an implementation x feature matrix, rows y/dx/dw/db, cells pass / fail / refused /
  answered / not-exercised;
* error / bound statistics per implementation and output;
* every (shrunk) failure with its worst element and replay command;
* torch-vs-JAX oracle disagreements, in their own section;
* the environment (oracle settings, versions, BLAS), seed and profile;
* the studies (Winograd accuracy, FFT bound tightness) when their modules are present.

``write_conformance`` renders it as ``conformance.json``, ``.md`` and a self-contained
``.html`` (plots inline as SVG) and replaces each file atomically. A plugin that fails to
load, or a fuzz run that crashes, becomes an entry with its cause; it never stops the report.
Verdicts are deterministic given the profile and seed (:func:`verdicts` extracts them);
wall-clock seconds are kept apart from them.
"""
from __future__ import annotations

import contextlib
import html
import io
import json
import math
import os
import tempfile
import time
import traceback
import warnings
from statistics import median

from .profiles import import_independent_draws
from .strategies import describe_draws
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
# Studies run with the report: key -> adapter(profile, **overrides) returning a JSON-able dict.
# Adapters live below; a missing module or a failing study becomes {"unavailable": reason}.
STUDY_KEYS = ("winograd_accuracy", "fft_tightness", "mutation_score", "precision")


# ---- building ---------------------------------------------------------------------------------
def _reason_features(reason: str) -> list[str]:
    """Features a declared-unsupported reason (Capabilities.unsupported_reasons) is about."""
    if reason.startswith("dtype "):
        return [reason.split()[1]]
    for prefix, feature in (("stride", "stride"), ("dilation", "dilation"), ("asymmetric padding",
                            "asymmetric_padding"), ("groups", "groups"), ("bias", "bias")):
        if reason.startswith(prefix):
            return [feature]
    return []  # kernel size, element budget: not a matrix column


def _rows_checked(result, spec: ConvSpec, backward: bool) -> list[str]:
    rows = ["y"]
    if backward:
        rows += ["dx", "dw"] + (["db"] if spec.bias else [])
    return rows


def _empty_matrix() -> dict:
    return {o: {f: {"pass": 0, "fail": 0, "refused": 0, "answered": 0} for f, _, _ in FEATURES} for o in OUTPUTS}


def _matrix(results, backward: bool) -> dict:
    """Counts and state per (output, feature). A declared-unsupported case is only called
    forward by the harness; its refusal (or answer) counts for every output the
    implementation would compute, under the features its unsupported reasons name."""
    m = _empty_matrix()
    for r in results:
        if r.search == "relation":     # the relations have their own section
            continue
        spec = ConvSpec.parse(r.descriptor)
        if r.unsupported:
            outcome = "refused" if r.status == "refused" else (
                "answered" if r.kind == "answered-unsupported" else "fail")
            feats = {f for reason in r.unsupported for f in _reason_features(reason)}
            for o in _rows_checked(r, spec, backward):
                for f in feats:
                    m[o][f][outcome] += 1
            continue
        feats = [f for f, _, pred in FEATURES if pred(spec)]
        if r.verdicts:
            per_output = {v.output: v.ok for v in r.verdicts}
        else:  # failed before any comparison (raised, mutated, aliased, refused a supported case)
            per_output = {o: r.status == "pass" for o in _rows_checked(r, spec, backward)}
        for o, ok in per_output.items():
            if o in m:
                for f in feats:
                    m[o][f]["pass" if ok else "fail"] += 1
    for o in OUTPUTS:
        for f, _, _ in FEATURES:
            cell = m[o][f]
            cell["state"] = next((s for s in STATES[:-1] if cell[s]), "not-exercised")
    return m


def _finite(x: float):
    """JSON has no inf/nan: they are written as the strings "inf", "-inf", "nan"."""
    if isinstance(x, float) and not math.isfinite(x):
        return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")
    return x


def _clean(obj):
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, float):
        return _finite(obj)
    if hasattr(obj, "item") and not isinstance(obj, (str, bytes)):  # numpy scalars
        return _clean(obj.item())
    return obj


def _error_stats(results) -> dict:
    """Per output: verdicts checked, failed, exact-required ones, and error/bound statistics over
    the verdicts with a non-zero bound (the per-case max of error/bound, and its median)."""
    stats = {}
    for o in OUTPUTS:
        vs = [v for r in results if not r.unsupported for v in r.verdicts if v.output == o]
        if not vs:
            continue
        ratios = [v.max_ratio for v in vs if not v.exact_required and v.kind in ("ok", "bound")]
        exact = [v for v in vs if v.exact_required]
        stats[o] = {
            "checked": len(vs), "failed": sum(not v.ok for v in vs),
            "exact_checked": len(exact), "exact_failed": sum(not v.ok for v in exact),
            "bounded": len(ratios),
            "max_ratio": max(ratios) if ratios else None,
            "median_ratio": median(ratios) if ratios else None,
            "median_of_medians": median(v.median_ratio for v in vs if not v.exact_required
                                        and v.kind in ("ok", "bound")) if ratios else None,
        }
    return stats


def _failure(r) -> dict:
    spec = ConvSpec.parse(r.descriptor)
    worst = [{"output": v.output, "kind": v.kind, "error": v.worst_error, "bound": v.worst_bound,
              "ratio": v.max_ratio, "index": list(v.worst_index) if v.worst_index is not None else None,
              "mismatched": v.mismatched, "total": v.total, "exact_required": v.exact_required,
              "detail": v.detail, "message": v.message()}
             for v in r.verdicts if not v.ok]
    return {"descriptor": r.descriptor, "seed": r.seed, "fill": r.fill, "kind": r.kind,
            "outputs": r.failed_output(), "detail": r.detail, "unsupported": list(r.unsupported),
            "worst": worst, "replay": r.replay(), "message": r.message(),
            "spec": {"stride": list(spec.stride), "padding": [list(p) for p in spec.padding],
                     "dilation": list(spec.dilation), "groups": spec.groups, "bias": spec.bias,
                     "dtype": spec.dtype}}


def _disagreement(impl: str, d) -> dict:
    out = d.to_dict()
    out["impl"] = impl
    return out


def _unavailable(name: str, target: str, error: str, status: str = "unavailable") -> dict:
    return {"name": name, "target": target, "status": status, "error": error}


def _describe_plugin(entry) -> dict:
    p = entry.plugin
    caps = p.capabilities
    return {"name": p.name, "target": entry.target, "description": p.description, "layout": p.layout,
            "capabilities": caps.summary(), "declared": {
                "dtypes": list(caps.dtypes), "max_stride": caps.max_stride, "max_dilation": caps.max_dilation,
                "asymmetric_padding": caps.asymmetric_padding, "groups": caps.groups, "bias": caps.bias,
                "backward": caps.backward, "kernel_min": caps.kernel_min, "kernel_max": caps.kernel_max,
                "max_elements": caps.max_elements},
            "error_model": p.error_model.describe(),
            "backward_method": p.backward_method or ("yes" if caps.backward else "no")}


def implementation_entry(entry, summary) -> dict:
    """The report's record of one fuzzed implementation (a FuzzSummary condensed)."""
    plugin = entry.plugin
    results = summary.results
    d = _describe_plugin(entry)
    d.update(
        status=summary.verdict,
        error=None,
        examples=summary.examples, honesty_examples=summary.honesty_examples, cases=len(results),
        passed=sum(r.status == "pass" for r in results), refused=sum(r.status == "refused" for r in results),
        failed_cases=sum(r.status == "fail" for r in results), cross_checked=summary.cross_checked,
        matrix=_matrix(results, plugin.capabilities.backward),
        errors=_error_stats(results),
        failures=[_failure(r) for r in summary.failures],
        disagreements=[_disagreement(plugin.name, x) for x in summary.disagreements],
        seconds=round(summary.seconds, 3),
        # per-case max error/bound of y..db (non-exact cases), for the distribution plot
        ratios={o: [v.max_ratio for r in results if not r.unsupported for v in r.verdicts
                    if v.output == o and not v.exact_required and v.kind in ("ok", "bound")] for o in OUTPUTS},
    )
    return d


def _study_winograd_accuracy(profile: str, **overrides) -> dict:
    from .studies import winograd_accuracy

    return winograd_accuracy.run(**overrides)


def _study_fft_tightness(profile: str, **overrides) -> dict:
    """conv_oracle.studies.fft_bound condensed: error/bound per output and dtype, the (K, ratio)
    points of every case for the plot, and the half-scaled contrast with a per-element bound."""
    from .runner import terms
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


def _study_precision(profile: str, **overrides) -> dict:
    """conv-oracle precision on the built-ins: the standard accumulation model each meets."""
    from . import precision

    return precision.study(profile, **overrides)


STUDY_ADAPTERS = {"winograd_accuracy": _study_winograd_accuracy, "fft_tightness": _study_fft_tightness,
                  "mutation_score": _study_mutation_score, "precision": _study_precision}


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


def _progress(enabled: bool | None):
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    disable = (not console.is_terminal) if enabled is None else not enabled
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[note]}"), TimeElapsedColumn(), console=console, disable=disable)


def build_conformance(impls: list[str] | None = None, profile: str = "ci", examples: int | None = None,
                      seed: int = 0, *, jax: bool = True, studies: bool | dict = True,
                      progress: bool | None = None, trusted: bool = False, case_timeout: float | None = None,
                      minutes: float | None = None, on_summary=None) -> dict:
    """Fuzz every implementation named (default: all registered) and return the report dict.

    ``studies``: True runs every study with its defaults, False none, a dict maps study keys
    to keyword arguments (studies missing from it are skipped). ``progress``: None shows a
    rich progress bar only on a terminal. Each plugin runs in an isolated worker (a hang, a
    crash or the memory limit ends its campaign at that case, and the report goes on to the next
    plugin) unless ``trusted``; ``case_timeout``: its seconds per case (default: the worker's).
    ``minutes``: fuzz each for that long instead of a count. ``on_summary(name, summary)``: each
    campaign's summary, its failing case records included (the frameworks report triages them)."""
    from . import environment, profiles, registry
    from .engine import run_campaign
    from .isolation import executor_for

    profiles.load(profile)  # validates the name up front
    names = list(impls) if impls else registry.family_names("")
    started = time.perf_counter()
    created = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    entries: list[dict] = []
    worker = None
    previous_affinity = None
    jax_settings = None
    jax_error = None
    if jax:
        from .oracles.worker import JaxWorker, pin_away_from_worker
        try:
            worker = JaxWorker()
            jax_settings = worker.settings()
            previous_affinity = pin_away_from_worker()
        except Exception as exc:  # no JAX: report without the cross-check, and say so
            jax_error = f"{type(exc).__name__}: {exc}"
            if worker is not None:
                worker.close()
            worker = None
    expected = examples or profiles.EXAMPLES[profile]
    try:
        with import_independent_draws(), _progress(progress) as bar:
            for name in names:
                task = bar.add_task(f"{name:<14}", total=int(expected * 1.2), note="loading")
                try:
                    with warnings.catch_warnings():  # listed as unavailable in the report instead
                        warnings.simplefilter("ignore", RuntimeWarning)
                        entry = registry.entry(name)
                except Exception as exc:  # unknown name
                    entries.append(_unavailable(name, name, f"{type(exc).__name__}: {exc}"))
                    bar.update(task, note="[red]unknown[/red]")
                    continue
                if entry.plugin is None:
                    entries.append(_unavailable(name, entry.target, entry.error))
                    bar.update(task, note="[red]unavailable[/red]")
                    continue
                counts = {"fail": 0}

                def on_result(result, task=task, counts=counts):
                    counts["fail"] += result.status == "fail"
                    bar.update(task, advance=1, note=f"{counts['fail']} failing cases" if counts["fail"] else "")

                try:   # no example database: the verdicts depend on profile and seed alone
                    with executor_for(entry.plugin, trusted=trusted, timeout=case_timeout) as executor:
                        summary = run_campaign(entry.plugin, profile=profile, examples=examples, seed=seed,
                                               jax_worker=worker, on_result=on_result, database=None,
                                               executor=executor, minutes=minutes)
                    if on_summary is not None:
                        on_summary(name, summary)
                except Exception as exc:  # the harness itself crashed on this plugin: record, go on
                    d = _describe_plugin(entry)
                    d.update(status="error", error=f"{type(exc).__name__}: {exc}",
                             traceback="".join(traceback.format_exc(limit=-6)))
                    entries.append(d)
                    bar.update(task, note="[red]harness error[/red]")
                    continue
                entries.append(implementation_entry(entry, summary))
                bar.update(task, total=len(summary.results), completed=len(summary.results),
                           note=f"[red]{len(summary.failures)} failures[/red]" if summary.failures else "[green]ok")
    finally:
        if worker is not None:
            worker.close()
        if previous_affinity is not None:
            os.sched_setaffinity(0, previous_affinity)

    study_data = {}
    if studies:
        for key in STUDY_KEYS:
            if studies is True or key in studies:
                study_data[key] = run_study(key, profile, studies.get(key) if isinstance(studies, dict) else None)

    env = environment.describe(jax_settings)
    if jax_error:
        env["jax_oracle_error"] = jax_error
    run = {"profile": profile, "examples": examples, "examples_per_impl": expected, "seed": seed,
           "impls": names, "jax_cross_check": jax_settings is not None,
           "seconds": round(time.perf_counter() - started, 2), "spec_families": describe_draws(profile)}
    return assemble_conformance(entries, run, env, study_data, created)


def assemble_conformance(entries: list[dict], run: dict, env: dict, study_data: dict, created: str,
                         **sections) -> dict:
    """The report dict around its implementation entries (:func:`implementation_entry`);
    ``sections`` adds top-level sections (a campaign's shards and workers)."""
    disagreements = [d for e in entries for d in e.get("disagreements", [])]
    report = {
        "schema": SCHEMA,
        "created": created,
        "run": run,
        "environment": env,
        "outputs": list(OUTPUTS),
        "features": [{"id": f, "label": label} for f, label, _ in FEATURES],
        "states": [{"id": s, "label": STATE_TEXT[s]} for s in STATES],
        "implementations": entries,
        "disagreements": disagreements,
        "studies": study_data,
        "summary": {
            "implementations": len(entries),
            "passing": [e["name"] for e in entries if e["status"] == "pass"],
            "failing": [e["name"] for e in entries if e["status"] == "fail"],
            "unavailable": [e["name"] for e in entries if e["status"] in ("unavailable", "error")],
            "failures": sum(len(e.get("failures", [])) for e in entries),
            "disagreements": len(disagreements),
        },
        **sections,
    }
    return _clean(report)


def verdicts(report: dict) -> dict:
    """The part of a report that must not change between two runs with the same profile and
    seed: statuses, matrices, error statistics, failures, disagreements (no timings)."""
    keep = ("name", "status", "error", "examples", "honesty_examples", "cases", "passed", "refused",
            "failed_cases", "cross_checked", "matrix", "errors", "failures", "disagreements")
    return {"schema": report["schema"], "run": {k: report["run"][k] for k in ("profile", "examples", "seed", "impls")},
            "implementations": [{k: e.get(k) for k in keep} for e in report["implementations"]]}


# ---- atomic writes ----------------------------------------------------------------------------
def atomic_write(path: str, content) -> None:
    """Write ``content`` (str, or a callable writing to a text file handle) to ``path`` through a
    temporary file in the same directory, then ``os.replace``: readers see the old file or the
    new one, never a torn one, and a writer that fails leaves the old file untouched."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            if callable(content):
                content(fh)
            else:
                fh.write(content)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_conformance(report: dict, out_dir: str = "reports") -> dict[str, str]:
    """Render all three formats first, then replace each file atomically; returns the paths."""
    texts = {"json": json.dumps(report, indent=1, sort_keys=False, allow_nan=False) + "\n",
             "md": render_markdown(report), "html": render_html(report)}
    paths = {}
    for ext, text in texts.items():
        paths[ext] = os.path.join(out_dir, f"conformance.{ext}")
        atomic_write(paths[ext], text)
    return paths


# ---- formatting helpers -----------------------------------------------------------------------
def fmt(x, digits: int = 3) -> str:
    if x is None:
        return "-"
    if isinstance(x, str):
        return x
    if isinstance(x, bool):
        return str(x)
    if isinstance(x, int):
        return str(x)
    if x == 0:
        return "0"
    return f"{x:.{digits}g}"


def _impl_rows(report):
    return [e for e in report["implementations"] if "matrix" in e]


def _cell_md(cell: dict) -> str:
    counts = ", ".join(f"{cell[k]} {k}" for k in ("pass", "fail", "refused", "answered") if cell[k])
    return f"{cell['state']}" + (f" ({counts})" if counts and cell["state"] != "not-exercised" else "")


def md_table(header: list[str], rows: list[list]) -> str:
    esc = lambda v: str(v).replace("|", "\\|").replace("\n", " ")  # noqa: E731
    lines = ["| " + " | ".join(esc(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(esc(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def environment_lines(env: dict) -> list[tuple[str, str]]:
    t = env.get("torch_oracle") or {}
    j = env.get("jax_oracle") or {}
    blas = "; ".join(f"{b.get('internal_api')} {b.get('version')} kernel={b.get('architecture')} "
                     f"threads={b.get('num_threads')} ({b.get('user_api')}, {b.get('prefix')})" for b in env.get("blas", []))
    return [
        ("torch oracle", ", ".join(f"{k}={v}" for k, v in t.items())),
        ("JAX oracle", ", ".join(f"{k}={v}" for k, v in j.items()) if j else env.get("jax_oracle_error", "not run")),
        ("numpy", env.get("numpy", "?")), ("hypothesis", env.get("hypothesis", "?")),
        ("python", env.get("python", "?")), ("platform", env.get("platform", "?")), ("cpus", str(env.get("cpus"))),
        ("BLAS", blas or "none found"),
        ("BLAS environment", ", ".join(f"{k}={v}" for k, v in (env.get("blas_env") or {}).items())),
    ]


def study_tables(key: str, data: dict) -> list[tuple[str, list[str], list[list]]]:
    """(title, header, rows) tables of a study's data; generic for studies it does not know."""
    if "unavailable" in data:
        return []
    rows = data.get("rows") or []
    if key == "winograd_accuracy" and rows:
        cs = sorted({r["C"] for r in rows if "C" in r})
        keys = []
        for r in rows:
            k = (r["impl"], r.get("points", ""))
            if k not in keys:
                keys.append(k)
        out = []
        for k in keys:
            cells = []
            for c in cs:
                r = next((r for r in rows if (r["impl"], r.get("points", "")) == k and r.get("C") == c), None)
                cells.append(fmt(r["rel_error"]) if r else "-")
            tight = [fmt(r.get("tightness_max")) for r in rows
                     if (r["impl"], r.get("points", "")) == k and "tightness_max" in r]
            holds = [r.get("bound_holds") for r in rows if (r["impl"], r.get("points", "")) == k and "bound_holds" in r]
            out.append([k[0], k[1] or "-", *cells, " / ".join(tight) or "-",
                        ("yes" if all(holds) else "NO") if holds else "-"])
        header = ["implementation", "points", *[f"rel. error C={c}" for c in cs],
                  "max err/bound per C", "bound holds"]
        return [("Normwise relative error of the float32 forward", header, out)]
    tables = []
    if data.get("half_scaled"):
        tables.append(("One half of x scaled by 1e-4: normwise bound vs a per-element gamma_K bound",
                       ["case", "normwise max err/bound", "normwise holds", "gamma_K max err/bound",
                        "gamma_K violations (tiny half)", "gamma_K would fail"],
                       [[h["descriptor"], fmt(h["normwise"]["max_ratio"]), h["normwise"]["holds"],
                         fmt(h["gamma_K"]["max_ratio"]), f"{h['gamma_K']['violations']} "
                         f"({h['gamma_K']['violations_in_tiny_half']})", h["gamma_K"]["would_fail"]]
                        for h in data["half_scaled"]]))
    if rows and all(isinstance(r, dict) for r in rows):
        cols = []
        for r in rows:
            for k, v in r.items():
                if k not in cols and not isinstance(v, (dict, list)):
                    cols.append(k)
        tables.insert(0, (data.get("title", key.replace("_", " ")), cols, [[fmt(r.get(c)) for c in cols] for r in rows]))
    return tables


# ---- Markdown ---------------------------------------------------------------------------------
def render_markdown(report: dict) -> str:
    run, summ = report["run"], report["summary"]
    out = ["# conv-oracle conformance report", "",
           f"Schema `{report['schema']}`, created {report['created']}. Profile **{run['profile']}**, "
           f"seed **{run['seed']}**, examples per implementation {run['examples_per_impl']}, "
           f"{fmt(run['seconds'])} s; {run.get('spec_families', 'spec families not recorded')}. Correct means within the implementation's declared error bound of "
           "the float64 torch oracle; JAX cross-checks the oracle.", "",
           f"**{len(summ['passing'])} passing**: {', '.join(summ['passing']) or '-'}; "
           f"**{len(summ['failing'])} failing**: {', '.join(summ['failing']) or '-'}; "
           f"unavailable: {', '.join(summ['unavailable']) or '-'}; "
           f"{summ['failures']} minimal failures; {summ['disagreements']} oracle disagreements.", "",
           "## Implementations", ""]
    rows = []
    for e in report["implementations"]:
        if "matrix" in e:
            rows.append([e["name"], e["status"], e["examples"], e["honesty_examples"], e["refused"],
                         len(e["failures"]), e["cross_checked"], e["error_model"]])
        else:
            rows.append([e["name"], e["status"], "-", "-", "-", "-", "-", e.get("error") or ""])
    out += [md_table(["implementation", "status", "examples", "unsupported offered", "refused", "failures",
                      "JAX cross-checked", "error model / cause"], rows), ""]

    out += ["## Feature matrix", "",
            "Cell states: " + "; ".join(f"`{s}` = {STATE_TEXT[s]}" for s in STATES)
            + ". A cell shows its most severe state; counts are cases.", ""]
    labels = [f["label"] for f in report["features"]]
    for e in _impl_rows(report):
        out += [f"### {e['name']}", "", f"{e['capabilities']}", ""]
        out += [md_table(["output", *labels], [[o, *[_cell_md(e["matrix"][o][f["id"]]) for f in report["features"]]]
                                               for o in report["outputs"]]), ""]

    out += ["## Error against the bound", "",
            "Per output: verdicts checked, the max and median over cases of the case's max error/bound "
            "(cases with a non-zero bound), and the integer-fill cases that had to be exact.", ""]
    rows = []
    for e in _impl_rows(report):
        for o, s in e["errors"].items():
            rows.append([e["name"], o, s["checked"], s["failed"], fmt(s["max_ratio"]), fmt(s["median_ratio"]),
                         f"{s['exact_checked'] - s['exact_failed']}/{s['exact_checked']}"])
    out += [md_table(["implementation", "output", "checked", "failed", "max err/bound", "median err/bound",
                      "exact ok"], rows), ""]

    out += ["## Failures", ""]
    failures = [(e["name"], f) for e in _impl_rows(report) for f in e["failures"]]
    if not failures:
        out += ["None.", ""]
    for name, f in failures:
        out += [f"### {name}: `{f['descriptor']}` ({f['kind']}, {f['outputs']})", "",
                f"seed {f['seed']}, fill {f['fill']}" + (f"; {f['detail']}" if f["detail"] else ""), ""]
        for w in f["worst"]:
            out.append(f"- `{w['output']}` [{w['kind']}]: " + (
                f"worst element {w['index']}: error {fmt(w['error'])}, bound {fmt(w['bound'])}, "
                f"ratio {fmt(w['ratio'])}; {w['mismatched']}/{w['total']} mismatched"
                + (" (exact result required)" if w["exact_required"] else "") if w["kind"] == "bound" else w["detail"]))
        out += ["", "```", f["replay"], "```", ""]
    for e in report["implementations"]:
        if "matrix" not in e:
            out += [f"- **{e['name']}** ({e['status']}): {e.get('error')}"]
    out += ["", "## Oracle disagreements (torch vs JAX)", ""]
    if not report["disagreements"]:
        out += ["None: JAX agreed with torch within 2 gamma_K(u64) on every cross-checked case.", ""]
    for d in report["disagreements"]:
        out += [f"- `{d['descriptor']}` (seed {d['seed']}, fill {d['fill']}, from {d['impl']}): "
                + "; ".join(f"{v['output']} {v['kind']} ratio {fmt(v['max_ratio'])}" for v in d["verdicts"])]
    out += ["", "## Studies", ""]
    for key, data in report["studies"].items():
        out += [f"### {key.replace('_', ' ')}", ""]
        if "unavailable" in data:
            out += [f"unavailable: {data['unavailable']}", ""]
            continue
        if data.get("settings"):
            out += ["Settings: " + ", ".join(f"{k}={v}" for k, v in data["settings"].items()), ""]
        for title, header, rows in study_tables(key, data):
            out += [f"**{title}**", "", md_table(header, rows), ""]
        for note in data.get("notes", []):
            out += [f"- {note}"]
        out += [""]
    if not report["studies"]:
        out += ["Not run.", ""]
    out += ["## Environment", "", md_table(["what", "value"], environment_lines(report["environment"])), ""]
    return "\n".join(out) + "\n"


# ---- HTML -------------------------------------------------------------------------------------
def _svg(fig) -> str:
    """A matplotlib figure as inline SVG text (deterministic ids, no date)."""
    import matplotlib.pyplot as plt

    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None}, bbox_inches="tight")
    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg"):]


def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matplotlib.rcParams.update({"svg.hashsalt": "conv-oracle", "svg.fonttype": "none", "font.size": 9})
    return plt


def plot_ratios(report: dict) -> str | None:
    """Strip plot of per-case max error/bound per implementation, one panel per output (log y)."""
    impls = [e for e in _impl_rows(report) if any(e["ratios"].get(o) for o in OUTPUTS)]
    if not impls:
        return None
    plt = _plt()
    outs = [o for o in OUTPUTS if any(e["ratios"].get(o) for e in impls)]
    fig, axes = plt.subplots(1, len(outs), figsize=(2.6 * len(outs) + 1, 3.2), sharey=True, squeeze=False)
    for ax, o in zip(axes[0], outs):
        for i, e in enumerate(impls):
            vals = [v for v in e["ratios"].get(o, []) if isinstance(v, (int, float)) and v > 0]
            if not vals:
                continue
            jitter = [((k * 0.618034) % 1 - 0.5) * 0.5 for k in range(len(vals))]
            ax.scatter([i + j for j in jitter], vals, s=6, alpha=0.5, color=f"C{i}")
        ax.axhline(1.0, color="crimson", lw=1, ls="--")
        ax.set_yscale("log")
        ax.set_xticks(range(len(impls)), [e["name"] for e in impls], rotation=45, ha="right")
        ax.set_title(o)
        ax.grid(axis="y", alpha=0.3)
    axes[0][0].set_ylabel("max error / bound per case (1 = bound)")
    fig.suptitle("Error against the declared bound (every fuzzed case; zeros not shown)")
    return _svg(fig)


def plot_winograd(data: dict) -> str | None:
    """Left: error vs tile size m per C and point set. Right: error vs accumulation length
    K = 9 C (channels x taps) per tile and point set, with im2col / fft / torch as baselines."""
    rows = [r for r in data.get("rows", []) if isinstance(r.get("rel_error"), (int, float))]
    wrows = [r for r in rows if "m" in r]
    if not wrows:
        return None
    plt = _plt()
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 3.9))
    styles = {"classic": "-o", "improved": "--s"}
    for ci, c in enumerate(sorted({r["C"] for r in wrows})):
        for points in sorted({r["points"] for r in wrows}):
            pts = sorted((r["m"], r["rel_error"]) for r in wrows if r["C"] == c and r["points"] == points)
            ax.plot([p[0] for p in pts], [p[1] for p in pts], styles.get(points, "-"), color=f"C{ci}",
                    label=f"C={c}, {points}")
    ax.set_yscale("log")
    ax.set_xlabel("output tile size m of F(m x m, 3 x 3)")
    ax.set_ylabel("normwise relative error (float32)")
    ax.set_xticks(sorted({r["m"] for r in wrows}))
    ax.set_title("Winograd error vs tile size")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    series = [(f"F({m},3) {p}", [r for r in wrows if r["m"] == m and r["points"] == p])
              for m in sorted({r["m"] for r in wrows}) for p in sorted({r["points"] for r in wrows})]
    series += [(name, [r for r in rows if "m" not in r and r["impl"] == name])
               for name in sorted({r["impl"] for r in rows if "m" not in r})]
    for i, (label, rs) in enumerate(series):
        pts = sorted((9 * r["C"], r["rel_error"]) for r in rs)
        if pts:
            baseline = "m" not in rs[0]
            bx.plot([p[0] for p in pts], [p[1] for p in pts], ":^" if baseline else styles.get(rs[0]["points"], "-"),
                    color="k" if baseline and i % 2 else f"C{i % 10}", label=label, lw=1.2 if baseline else 1)
    bx.set_xscale("log")
    bx.set_yscale("log")
    bx.set_xlabel("accumulation length K = 9 C (3x3 taps x channels)")
    bx.set_title("error vs accumulation length")
    bx.grid(alpha=0.3)
    bx.legend(fontsize=6, ncol=2)
    return _svg(fig)


def plot_fft(data: dict) -> str | None:
    """error / bound of every case against its accumulation length K, per output (log-log)."""
    pts = [p for p in data.get("points", []) if isinstance(p.get("ratio"), (int, float)) and p["ratio"] > 0]
    if not pts:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.8, 3.9))
    markers = {"float32": "o", "float64": "s"}
    for i, o in enumerate(OUTPUTS):
        for dtype, marker in markers.items():
            sel = [p for p in pts if p["output"] == o and p["dtype"] == dtype]
            if sel:
                ax.scatter([p["K"] for p in sel], [p["ratio"] for p in sel], s=9, marker=marker, color=f"C{i}",
                           alpha=0.6, label=f"{o} {dtype.replace('float', 'f')}")
    ax.axhline(1.0, color="crimson", lw=1, ls="--")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("accumulation length K of the output element")
    ax.set_ylabel("max error / normwise bound")
    ax.set_title("FFT bound tightness (1 = bound)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    return _svg(fig)


def plot_generic_study(data: dict, key: str) -> str | None:
    """A log-log plot of a study that names its axes (``plot: {x, y, series}``), or of rows with a
    numeric K / terms column against every numeric error-like column."""
    rows = [r for r in data.get("rows", []) if isinstance(r, dict)]
    spec = data.get("plot") or {}
    x = spec.get("x") or next((k for k in ("K", "terms", "k", "P", "size") if rows and k in rows[0]), None)
    if not rows or x is None:
        return None
    ys = spec.get("y")
    ys = [ys] if isinstance(ys, str) else ys or [k for k in rows[0] if k != x and any(
        t in k.lower() for t in ("error", "ratio", "tight", "bound")) and isinstance(rows[0][k], (int, float))]
    series = spec.get("series")
    if not ys:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    groups = sorted({str(r.get(series)) for r in rows}) if series else [None]
    for yi, y in enumerate(ys):
        for gi, g in enumerate(groups):
            pts = sorted((r[x], r[y]) for r in rows if (g is None or str(r.get(series)) == g)
                         and isinstance(r.get(x), (int, float)) and isinstance(r.get(y), (int, float)) and r[y] > 0)
            if pts:
                ax.plot([p[0] for p in pts], [p[1] for p in pts], "-o", ms=3, color=f"C{(yi * len(groups) + gi) % 10}",
                        label=y if g is None else f"{y}, {series}={g}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(x)
    ax.set_title(data.get("title", key.replace("_", " ")))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return _svg(fig)


CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:1200px;color:#222;padding:0 1em}
h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.8em}
table{border-collapse:collapse;margin:.6em 0;font-size:.85em}
th,td{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top}
th{background:#f3f3f3}
td.pass{background:#d9f2d9}td.fail{background:#f7c5c5;font-weight:bold}
td.refused{background:#dde7f7}td.answered{background:#fbe3b0;font-weight:bold}
td.not-exercised{background:#f7f7f7;color:#999}
span.pass{color:#1a7f1a;font-weight:bold}span.fail{color:#b00;font-weight:bold}
pre,code{background:#f6f6f6;font-size:.9em}pre{padding:.5em;overflow-x:auto;white-space:pre-wrap}
.small{color:#666;font-size:.85em}.plot svg{max-width:100%;height:auto}
"""


def _h(x) -> str:
    return html.escape(str(x))


def html_table(header, rows, classes=None) -> str:
    out = ["<table><thead><tr>" + "".join(f"<th>{_h(h)}</th>" for h in header) + "</tr></thead><tbody>"]
    for i, row in enumerate(rows):
        cells = []
        for j, c in enumerate(row):
            cls = classes[i][j] if classes and classes[i][j] else ""
            cells.append(f"<td class=\"{cls}\">{_h(c)}</td>" if cls else f"<td>{_h(c)}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    return "".join(out) + "</tbody></table>"


def render_html(report: dict) -> str:
    run, summ = report["run"], report["summary"]
    b = [f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
         f"<title>conv-oracle conformance report</title><style>{CSS}</style></head><body>",
         "<h1>conv-oracle conformance report</h1>",
         f"<p class=\"small\">Schema <code>{_h(report['schema'])}</code>, created {_h(report['created'])}. "
         f"Profile <b>{_h(run['profile'])}</b>, seed <b>{_h(run['seed'])}</b>, "
         f"{_h(run['examples_per_impl'])} examples per implementation, {_h(fmt(run['seconds']))} s; {_h(run.get('spec_families', 'spec families not recorded'))}.</p>",
         "<p>Correct means within the implementation's declared error bound of the float64 torch oracle "
         "(JAX cross-checks the oracle). "
         f"<span class=\"pass\">{len(summ['passing'])} passing</span>: {_h(', '.join(summ['passing']) or '-')}; "
         f"<span class=\"fail\">{len(summ['failing'])} failing</span>: {_h(', '.join(summ['failing']) or '-')}; "
         f"unavailable: {_h(', '.join(summ['unavailable']) or '-')}; {summ['failures']} minimal failures; "
         f"{summ['disagreements']} oracle disagreements.</p>",
         "<h2 id=\"implementations\">Implementations</h2>"]
    rows, classes = [], []
    for e in report["implementations"]:
        if "matrix" in e:
            rows.append([e["name"], e["status"], e["examples"], e["honesty_examples"], e["refused"], len(e["failures"]),
                         e["cross_checked"], e["capabilities"], e["error_model"]])
        else:
            rows.append([e["name"], e["status"], "-", "-", "-", "-", "-", "", e.get("error") or ""])
        classes.append([None, "pass" if e["status"] == "pass" else "fail"] + [None] * 7)
    b.append(html_table(["implementation", "status", "examples", "unsupported offered", "refused", "failures",
                         "JAX cross-checked", "capabilities", "error model / cause"], rows, classes))

    b.append("<h2 id=\"matrix\">Feature matrix</h2><p class=\"small\">Cell states: "
             + "; ".join(f"<b>{_h(s)}</b> = {_h(STATE_TEXT[s])}" for s in STATES)
             + ". A cell shows its most severe state, with the case counts behind it. Declared-unsupported "
               "configurations are offered forward only; the refusal counts for every output.</p>")
    labels = [f["label"] for f in report["features"]]
    for e in _impl_rows(report):
        rows, classes = [], []
        for o in report["outputs"]:
            cells = [e["matrix"][o][f["id"]] for f in report["features"]]
            rows.append([o, *[_cell_md(c) for c in cells]])
            classes.append([None, *[c["state"] for c in cells]])
        b.append(f"<h3>{_h(e['name'])}</h3>" + html_table(["output", *labels], rows, classes))

    b.append("<h2 id=\"errors\">Error against the bound</h2><p class=\"small\">Max and median over cases of "
             "each case's max error/bound (cases with a non-zero bound); integer-fill cases of a direct-sum "
             "model must be exact.</p>")
    rows = [[e["name"], o, s["checked"], s["failed"], fmt(s["max_ratio"]), fmt(s["median_ratio"]),
             f"{s['exact_checked'] - s['exact_failed']}/{s['exact_checked']}"]
            for e in _impl_rows(report) for o, s in e["errors"].items()]
    b.append(html_table(["implementation", "output", "checked", "failed", "max err/bound", "median err/bound",
                         "exact ok"], rows))
    svg = plot_ratios(report)
    if svg:
        b.append(f"<div class=\"plot\">{svg}</div>")

    b.append("<h2 id=\"failures\">Failures</h2>")
    failures = [(e["name"], f) for e in _impl_rows(report) for f in e["failures"]]
    if not failures:
        b.append("<p>None.</p>")
    for name, f in failures:
        b.append(f"<h3>{_h(name)}: <code>{_h(f['descriptor'])}</code></h3><p>{_h(f['kind'])} in "
                 f"{_h(f['outputs'])}; seed {_h(f['seed'])}, fill {_h(f['fill'])}</p>")
        if f["worst"]:
            b.append(html_table(["output", "kind", "worst index", "error", "bound", "error/bound", "mismatched"],
                                [[w["output"], w["kind"], w["index"], fmt(w["error"]), fmt(w["bound"]),
                                  fmt(w["ratio"]), f"{w['mismatched']}/{w['total']}"] for w in f["worst"]]))
        b.append(f"<pre>{_h(f['message'])}</pre><p>Replay:</p><pre>{_h(f['replay'])}</pre>")
    for e in report["implementations"]:
        if "matrix" not in e:
            b.append(f"<p><b>{_h(e['name'])}</b> ({_h(e['status'])}): {_h(e.get('error'))}</p>")

    b.append("<h2 id=\"disagreements\">Oracle disagreements (torch vs JAX)</h2>")
    if not report["disagreements"]:
        b.append("<p>None: JAX agreed with torch within 2&#947;<sub>K</sub>(u<sub>64</sub>) on every "
                 "cross-checked case.</p>")
    else:
        b.append(html_table(["descriptor", "seed", "fill", "from", "outputs"],
                            [[d["descriptor"], d["seed"], d["fill"], d["impl"],
                              "; ".join(f"{v['output']} {v['kind']} ratio {fmt(v['max_ratio'])}" for v in d["verdicts"])]
                             for d in report["disagreements"]]))

    b.append("<h2 id=\"studies\">Studies</h2>")
    if not report["studies"]:
        b.append("<p>Not run.</p>")
    for key, data in report["studies"].items():
        b.append(f"<h3>{_h(key.replace('_', ' '))}</h3>")
        if "unavailable" in data:
            b.append(f"<p>unavailable: {_h(data['unavailable'])}</p>")
            continue
        if data.get("settings"):
            b.append("<p class=\"small\">" + _h(", ".join(f"{k}={v}" for k, v in data["settings"].items())) + "</p>")
        for title, header, rows in study_tables(key, data):
            b.append(f"<p><b>{_h(title)}</b></p>" + html_table(header, rows))
        plot = {"winograd_accuracy": plot_winograd, "fft_tightness": plot_fft}.get(key)
        svg = plot(data) if plot else plot_generic_study(data, key)
        if svg:
            b.append(f"<div class=\"plot\">{svg}</div>")
        if data.get("notes"):
            b.append("<ul>" + "".join(f"<li>{_h(n)}</li>" for n in data["notes"]) + "</ul>")

    b.append("<h2 id=\"environment\">Environment</h2>")
    b.append(html_table(["what", "value"], environment_lines(report["environment"])))
    b.append("</body></html>")
    return "\n".join(b) + "\n"
