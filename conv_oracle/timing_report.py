"""The timing report: ``conv_oracle.bench.run_bench`` data rendered as
``reports/timing.{json,md,html}``, the Markdown and the HTML from one list of sections
(:mod:`conv_oracle.render`, as the conformance and training reports).

Principle 6: performance is measured, never asserted. Everything quoted comes from one
run that also records what ran it (BLAS library and kernel, threads, machine, the sgemm rate
measured before and after). Ratios are time / baseline time (> 1: slower than torch or JAX),
both measured in the same run with the candidates interleaved.

Besides the bench rows the report holds

* the crossover sweep (time vs kernel size for fft, im2col, winograd and torch), from
  :mod:`conv_oracle.studies.crossover`, or run here through the bench core if that is missing;
* an accuracy measurement for the speed-vs-accuracy plot: the normwise relative error
  ``||y - y64|| / ||y64||`` of each float32 forward on one bench layer against torch float64
  on the same rounded inputs. For a plugin it also states whether the output is within the
  plugin's declared bound (:func:`conv_oracle.bounds.total_bounds`, judged by
  :func:`conv_oracle.compare.compare_output`, as every other verdict): the plot is an
  illustration next to the timings; the bound, not the size of the error, says right or wrong.
"""
from __future__ import annotations

import json
import math
import statistics
import time

from .render import Section, _plt, _svg, fmt, to_html, to_markdown, write_report_files

SCHEMA = "conv-oracle/timing/1"
TITLE = "conv-oracle timing report"
CROSSOVER_IMPLS = ("fft", "im2col", "winograd-f2", "winograd-f4", "winograd-f6")
SLOW = ("loop",)  # readable references: minutes per large layer, left out unless named


def default_impls() -> list[str]:
    """Every registered implementation that loads, but the slow readable reference."""
    from . import registry

    return [e.name for e in registry.all_entries() if e.plugin is not None and e.name not in SLOW]


# ---- extra measurements -----------------------------------------------------------------------
def crossover_data(impls, *, quick: bool = False, full: bool = False, repeats: int = 7, gap: float = 0.2,
                   settle: int = 1) -> dict:
    """Time vs kernel size (N=4, C=F=32, 64x64, same padding, f32 forward)."""
    kernels = (3, 5, 9, 15, 31) if quick else tuple(range(3, 32, 2)) if full else (3, 5, 7, 11, 15, 21, 31)
    impls = [i for i in CROSSOVER_IMPLS if i in impls] or list(CROSSOVER_IMPLS)
    try:
        from .studies import crossover
    except ImportError as exc:
        return _own_crossover(kernels, impls, repeats, gap, settle, reason=f"studies.crossover missing ({exc})")
    try:
        return crossover.crossover(kernels, impls, repeats=repeats, gap=gap, settle=settle)
    except Exception as exc:
        return {"unavailable": f"{type(exc).__name__}: {exc}"}


def _own_crossover(kernels, impls, repeats, gap, settle, reason) -> dict:
    from . import bench
    from .spec import ConvSpec

    rows = []
    for k in kernels:
        spec = ConvSpec.make(4, 32, 64, 64, 32, k, padding="same")
        got = bench.bench_layer(spec, impls, repeats=repeats, gap=gap, settle=settle, baselines=("torch",))
        ok = [r for r in got if r["status"] == "ok"]
        med = {r["name"]: r["median_s"] for r in ok}
        rows.append({"k": k, "descriptor": spec.descriptor(), "median_ms": {n: m * 1e3 for n, m in med.items()},
                     "min_ms": {r["name"]: r["min_s"] * 1e3 for r in ok},
                     "max_ms": {r["name"]: r["max_s"] * 1e3 for r in ok},
                     "ratio_to_torch": {n: m / med["torch"] for n, m in med.items()} if "torch" in med else {},
                     "fastest": min(med, key=med.get) if med else None,
                     "skipped": {r["name"]: r["detail"] for r in got if r["status"] != "ok"}})
    return {"study": "fft-crossover", "source": f"timing_report (bench core): {reason}", "mode": "fwd",
            "dtype": "float32", "repeats": repeats, "gap_s": gap, "settle": settle, "template": "n4c32h64w64f32 k x k, same padding",
            "rows": rows}


def accuracy_data(impls, layer: str) -> dict:
    """Normwise relative error of each float32 forward on bench layer ``layer`` against torch
    float64 on the same float32 inputs (the arrays the bench times); for each plugin (a
    registered name or a ``module:attr`` target) also the verdict of its declared error model."""
    import numpy as np
    import torch
    import torch.nn.functional as F

    from . import bench
    from . import bounds as B
    from . import registry
    from .compare import compare_output

    spec = bench.LAYERS[layer].replace(dtype="float32")
    x, w, b, _ = bench.make_arrays(spec)
    (pt, pb), (pl, pr) = spec.padding

    def torch_conv(x, w, b):
        xp = F.pad(torch.from_numpy(x), (pl, pr, pt, pb))
        with torch.no_grad():
            return F.conv2d(xp, torch.from_numpy(w), None if b is None else torch.from_numpy(b), stride=spec.stride,
                            dilation=spec.dilation, groups=spec.groups).numpy()

    x64, w64, b64 = (None if a is None else a.astype(np.float64) for a in (x, w, b))
    ref = torch_conv(x64, w64, b64)
    scale = torch_conv(np.abs(x64), np.abs(w64), None if b is None else np.abs(b64))   # sum |x||w| + |b|
    ctx = B.BoundContext(spec, x64, w64, b64, np.zeros(spec.y_shape), {"y": scale}, B.terms(spec), ("y",),
                         {"y": ref})                                                   # y only: a forward study
    norm = float(np.linalg.norm(ref))
    rows = {}

    def record(name, fn, model=None):
        try:
            y = fn()
            rows[name] = {"rel_error": float(np.linalg.norm(np.asarray(y, np.float64) - ref) / norm)}
        except Exception as exc:
            rows[name] = {"unavailable": f"{type(exc).__name__}: {exc}"}
            return
        if model is not None:
            rows[name].update(bound_verdict(y, model))

    def nchw(plugin, y):                          # an NHWC plugin's y, in the reference's layout
        return y.transpose(0, 3, 1, 2) if plugin.layout == "NHWC" and isinstance(y, np.ndarray) else y

    def bound_verdict(y, model) -> dict:
        try:
            bound = B.total_bounds(model, ctx, "normal")["y"]
        except B.ModelBoundError as exc:          # no bound is a failure, never a pass
            return {"within_bound": False, "bound_detail": str(exc)}
        verdict = compare_output("y", y, ref, bound, spec.dtype, scale)
        return {"within_bound": verdict.ok, "max_error_over_bound": verdict.max_ratio,
                **({} if verdict.ok else {"bound_detail": verdict.message()})}

    record("torch", lambda: torch_conv(x, w, b))
    record("jax", lambda: np.asarray(bench.jax_candidate(spec)()))
    for name in impls:
        try:
            plugin = registry.load(name)
        except Exception as exc:
            rows[name] = {"unavailable": f"{type(exc).__name__}: {exc}"}
            continue
        record(name, lambda plugin=plugin: nchw(plugin, bench.plugin_candidate(plugin, spec)()), plugin.error_model)
    return {"layer": layer, "descriptor": spec.descriptor(), "dtype": "float32",
            "metric": "||y - y_ref||_F / ||y_ref||_F, y_ref = torch float64 on the float32 inputs; "
                      "within_bound: the plugin's declared error model plus the reference's error",
            "data": "standard normal x, w, b (seed 0, the bench arrays)", "rows": rows}


# ---- summary ------------------------------------------------------------------------------------
def _geomean(values):
    values = [v for v in values if isinstance(v, (int, float)) and v > 0]
    return math.exp(statistics.fmean(math.log(v) for v in values)) if values else None


def summarise(data: dict) -> list[dict]:
    """Per (candidate, mode, dtype): layers timed, geometric-mean ratio to torch and JAX."""
    groups: dict = {}
    for r in data["results"]:
        groups.setdefault((r["name"], r["mode"], r["dtype"]), []).append(r)
    out = []
    for (name, mode, dtype), rows in groups.items():
        ok = [r for r in rows if r["status"] == "ok"]
        out.append({"name": name, "mode": mode, "dtype": dtype, "layers": len(ok),
                    "not_run": {r["layer"]: r["status"] for r in rows if r["status"] != "ok"},
                    "geomean_ratio_to_torch": _geomean([r["ratio_to_torch"] for r in ok]),
                    "geomean_ratio_to_jax": _geomean([r["ratio_to_jax"] for r in ok]),
                    "best_gflops": max((r["gflops"] for r in ok), default=None)})
    return out


def build_timing(data: dict, *, crossover: bool = True, accuracy: bool = True, quick: bool = False,
                 full: bool = False, repeats: int = 7, gap: float = 0.2, settle: int = 1) -> dict:
    impls = list(data.get("impls", []))
    report = {"schema": SCHEMA, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "bench": data,
              "summary": summarise(data)}
    if crossover:
        report["crossover"] = crossover_data(impls, quick=quick, full=full, repeats=repeats, gap=gap, settle=settle)
    if accuracy:
        f32 = [r["layer"] for r in data["results"] if r["dtype"] == "float32" and r["mode"] == "fwd"]
        layer = "c" if "c" in f32 else (f32[0] if f32 else "c")
        report["accuracy"] = accuracy_data(impls, layer)
    return report


def write_timing(report: dict, out_dir: str = "reports") -> dict[str, str]:
    texts = {"json": json.dumps(report, indent=1, allow_nan=False) + "\n", "md": render_markdown(report),
             "html": render_html(report)}
    return write_report_files("timing", texts, out_dir)


# ---- rendering ----------------------------------------------------------------------------------
def _pct(x):
    return "-" if x is None else f"{x:.0f}%"


def _header_lines(report: dict) -> list[tuple[str, str]]:
    d = report["bench"]
    b, lib, m = d["blas"], d["libraries"], d["machine"]
    opts = d.get("options", {})
    return [
        ("machine", f"{m.get('processor')}, {m.get('cpu_count')} CPUs (affinity {m.get('affinity')}), {m.get('platform')}"
                    + ("; SINGLE CORE: pinned to one CPU, every thread pool at 1 thread" if d.get("single_core") else "")),
        ("numpy BLAS", f"{b.get('internal_api')} {b.get('version')}, kernel {b.get('architecture')}, "
                       f"{b.get('num_threads')} threads, {b.get('threading_layer')}"),
        ("BLAS environment", f"OPENBLAS_CORETYPE={b.get('OPENBLAS_CORETYPE')}, OPENBLAS_L2_SIZE={b.get('OPENBLAS_L2_SIZE')}"),
        ("sgemm peak", f"{d['sgemm_gflops']:.0f} GFLOP/s before, {d['sgemm_gflops_after']:.0f} after "
                       f"(n={d['sgemm_n']}, numpy float32 matmul, same run); '% GEMM, same rounds' divides by an "
                       "n x n GEMM of the layer's dtype timed as one more candidate in that layer's rounds"),
        ("libraries", f"numpy {lib.get('numpy')}, torch {lib.get('torch')} ({lib.get('torch_threads')} threads, "
                      f"{lib.get('torch_interop_threads')} interop), jax {lib.get('jax', lib.get('jax_error'))} "
                      f"{lib.get('jax_backend', '')}"),
        ("method", f"median of {d['repeats']} interleaved warm calls after {d['warmup']} warm-up round; before each "
                   f"candidate's turn a {d['gap_s']} s gap (other libraries' threads go quiet), then "
                   f"{d.get('settle', 0)} untimed call(s) (the first call after a gap is slower for every library on "
                   "this VM; its median is kept in the JSON as after_gap_median_s); spread = [min..max]; "
                   "ratio = time / baseline time (> 1 slower)"
                   + (f"; options {opts}" if opts else "")),
        ("created", f"{d.get('created')}"),
    ]


def _result_rows(report):
    rows = []
    for r in report["bench"]["results"]:
        if r["status"] != "ok":
            rows.append([r["layer"], r["mode"], r["dtype"], r["name"], r["status"], "", "", "", "", "", "",
                         (r.get("detail") or "")[:90]])
            continue
        rows.append([r["layer"], r["mode"], r["dtype"], r["name"], f"{r['median_s'] * 1e3:.2f}",
                     f"{r['min_s'] * 1e3:.2f}..{r['max_s'] * 1e3:.2f}", f"{r['gflops']:.1f}", fmt(r["ratio_to_torch"]),
                     fmt(r["ratio_to_jax"]), _pct(r.get("pct_sgemm_peak")), _pct(r.get("pct_gemm_same_rounds")),
                     ""])
    return rows


RESULT_HEADER = ["layer", "mode", "dtype", "candidate", "median ms", "spread ms", "GFLOP/s", "x torch", "x jax",
                 "% sgemm peak", "% GEMM, same rounds", "note"]
SUMMARY_HEADER = ["candidate", "mode", "dtype", "layers", "geo-mean x torch", "geo-mean x jax", "best GFLOP/s",
                  "not run"]


def _summary_rows(report):
    return [[s["name"], s["mode"], s["dtype"], s["layers"], fmt(s["geomean_ratio_to_torch"]),
             fmt(s["geomean_ratio_to_jax"]), fmt(s["best_gflops"]),
             ", ".join(f"{k}: {v}" for k, v in s["not_run"].items()) or "-"] for s in report["summary"]]


def _crossover_table(c: dict):
    names = []
    for r in c["rows"]:
        for n in r["median_ms"]:
            if n not in names:
                names.append(n)
    rows = [[r["k"], *[f"{r['median_ms'][n]:.2f}" if n in r["median_ms"] else "-" for n in names], r["fastest"]]
            for r in c["rows"]]
    return ["k", *[f"{n} ms" for n in names], "fastest"], rows


def _accuracy_rows(report):
    a = report.get("accuracy") or {}
    speed = _speed(report)
    held = {True: "yes", False: "NO"}
    return [[n, fmt(v.get("rel_error", v.get("unavailable"))), held.get(v.get("within_bound"), "-"), fmt(speed.get(n))]
            for n, v in a.get("rows", {}).items()]


def _speed(report) -> dict:
    """Geometric-mean time ratio to torch over the float32 forward layers, per candidate."""
    return {s["name"]: s["geomean_ratio_to_torch"] for s in report["summary"]
            if s["mode"] == "fwd" and s["dtype"] == "float32" and s["geomean_ratio_to_torch"]}


def plot_crossover(c: dict) -> str | None:
    if not c or "rows" not in c or not c["rows"]:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.8, 4))
    names = []
    for r in c["rows"]:
        names += [n for n in r["median_ms"] if n not in names]
    for i, n in enumerate(names):
        pts = [(r["k"], r["median_ms"][n], r["min_ms"].get(n), r["max_ms"].get(n)) for r in c["rows"] if n in r["median_ms"]]
        ks, med = [p[0] for p in pts], [p[1] for p in pts]
        ax.plot(ks, med, "-o", ms=3.5, color="k" if n == "torch" else f"C{i}", lw=2 if n == "torch" else 1.2, label=n)
        if all(p[2] is not None and p[3] is not None for p in pts):
            ax.fill_between(ks, [p[2] for p in pts], [p[3] for p in pts], color="k" if n == "torch" else f"C{i}",
                            alpha=0.12, lw=0)
    ax.set_yscale("log")
    ax.set_xlabel("kernel size k (k x k, same padding)")
    ax.set_ylabel("median time per forward (ms)")
    ax.set_title(f"Crossover: {c.get('template', '')}, {c.get('dtype', 'float32')} {c.get('mode', 'fwd')}")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    return _svg(fig)


def plot_speed_accuracy(report: dict) -> str | None:
    a = report.get("accuracy") or {}
    speed = _speed(report)
    pts = [(n, speed[n], v["rel_error"]) for n, v in a.get("rows", {}).items()
           if n in speed and isinstance(v.get("rel_error"), float) and v["rel_error"] > 0]
    if not pts:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.2, 4))
    for i, (n, s, e) in enumerate(pts):
        ax.scatter([s], [e], s=40, color="k" if n == "torch" else f"C{i}", zorder=3)
        ax.annotate(n, (s, e), textcoords="offset points", xytext=(5, 4), fontsize=8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("time relative to torch (geo-mean over the float32 forward layers; < 1 faster)")
    ax.set_ylabel(f"normwise relative error, layer {a.get('layer')} f32")
    ax.set_title("Speed vs accuracy (lower left is better)")
    from matplotlib.ticker import NullFormatter
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.grid(alpha=0.3, which="both")
    lo = min(p[1] for p in pts)
    hi = max(p[1] for p in pts)
    ax.set_xlim(lo / 1.6, hi * 1.6)
    return _svg(fig)


def sections(report: dict, plots: bool = True) -> list[Section]:
    """The timing report as sections of :mod:`conv_oracle.render` (``plots``: draw the SVGs, which
    only the HTML shows)."""
    head = Section("").p("Measured, not asserted: one run, candidates interleaved, torch and JAX timed alongside.")
    head.table(["what", "value"], _header_lines(report))
    summary = Section("Summary", "summary").table(SUMMARY_HEADER, _summary_rows(report))
    layers = Section("Layers", "layers").table(["layer", "descriptor"],
                                               [[k, v] for k, v in report["bench"]["layers"].items()])
    layers.table(RESULT_HEADER, _result_rows(report))
    out = [head, summary, layers]
    c = report.get("crossover")
    if c is not None:
        crossover = Section("Crossover (time vs kernel size)", "crossover")
        if "unavailable" in c:
            crossover.p(f"unavailable: {c['unavailable']}")
        else:
            crossover.p(f"{c.get('template')}, {c.get('dtype')} {c.get('mode')}, median of {c.get('repeats')}.")
            crossover.svg(plot_crossover(c) if plots else None)
            crossover.table(*_crossover_table(c))
        out.append(crossover)
    a = report.get("accuracy")
    if a:
        accuracy = Section("Speed vs accuracy", "accuracy").svg(plot_speed_accuracy(report) if plots else None)
        accuracy.p(f"Error: {a['metric']}, layer {a['layer']} ({a['descriptor']}). Speed: geo-mean time ratio to "
                   "torch over the float32 forward layers. An illustration; correctness is the conformance report's.",
                   small=True)
        accuracy.table(["candidate", "relative error", "within its bound", "x torch"], _accuracy_rows(report))
        out.append(accuracy)
    return out


def render_markdown(report: dict) -> str:
    return to_markdown(TITLE, sections(report, plots=False))


def render_html(report: dict) -> str:
    return to_html(TITLE, sections(report))
