"""The training report: :mod:`conv_oracle.train` checks rendered as ``reports/training.{json,md,html}``.

JSON (``"schema": "conv-oracle/training/1"``) holds, per variant, the baseline (torch float32
against the exact float64 run: its width per metric and both trajectories) and, per checked
implementation, its verdict, the multiple and the bound ratios it came from, the largest
divergence from torch per metric in baseline units, and its loss, accuracy and divergence
trajectories (batch loss and divergence every step, held-out accuracy every ``EVAL_EVERY`` steps).
Markdown has the tables; HTML adds the plots (loss and accuracy of every run,
divergence over the steps in band units). Both are rendered from one section model
(:func:`sections`, :mod:`conv_oracle.render`), as the conformance report is. The JSON's structure is
``conv_oracle/schemas/training.schema.json``, documented in ``docs/report-schema.md``.
"""
from __future__ import annotations

import json
import time

import numpy as np

from . import train as T
from .aggregate import clean as _clean
from .render import Section, _plt, _svg, environment_lines, fmt, to_html, to_markdown, write_report_files

SCHEMA = "conv-oracle/training/1"
TITLE = "conv-oracle training report"


def _series(values) -> list:
    """Per-step floats at 4 significant digits (the plots and tables need no more)."""
    return [float(f"{v:.4g}") for v in np.asarray(values, dtype=float)]


def _trajectory(traj: T.Trajectory) -> dict:
    return {"loss": _series(traj.loss), "test_accuracy": [[s, a] for s, a in traj.test_accuracy],
            "seconds": round(traj.seconds, 3)}


def check_entry(c: T.Check) -> dict:
    entry = {"impl": c.impl, "status": c.status, "detail": c.detail, "multiple": c.multiple if c.rho else None,
             "rho": c.rho, "seconds": round(c.seconds, 3)}
    if c.trajectory is not None:
        entry.update(ratio=dict(c.ratio), worst=c.worst,
                     first_outside=list(c.first_outside) if c.first_outside else None,
                     trajectory=_trajectory(c.trajectory),
                     divergence={k: _series(d) for k, d in c.divergence.items()})
    return entry


def baseline_entry(b: T.Baseline) -> dict:
    v = b.schedule.variant
    return {"variant": v.name, "channels": v.channels, "size": v.size, "filters": list(v.filters),
            "batch": v.batch, "lr": v.lr, "train_images": v.train_images, "test_images": v.test_images,
            "layers": [s.descriptor() for s in v.specs(v.batch, "float32")],
            "width": b.widths, "torch": _trajectory(b.torch), "exact": _trajectory(b.exact),
            "divergence": {k: _series(d) for k, d in b.divergence.items()},
            "reordered_divergence": [{k: _series(d) for k, d in r.items()} for r in b.reordered_divergence],
            "self_check": b.self_check()}


METHOD = [
    "Three runs per variant from the same initial weights on the same batches, identical outside the conv layers "
    "(NumPy: activation, 2x2 average pooling, dense layer, softmax cross-entropy, SGD): the plugin's "
    "forward/backward in float32 through its contract; torch conv2d + autograd in float32; torch in float64 "
    "with everything else in float64 ('exact').",
    "Divergence at step t: ||p_a - p_b|| / ||p_b|| for each layer's weights and bias after the update, "
    "|L_a - L_b| / |L_b| for the batch loss.",
    "Baseline (width W) per metric: the largest divergence from the exact run, over the whole run, of torch "
    "float32 and of three more torch float32 runs summing in other correct orders (batch, input and output "
    "channels permuted in every conv call): how far a correct float32 training drifts.",
    "Agreement: for every metric, max_t d(plugin, torch) <= multiple x width, multiple = 1 + max(1, rho), "
    "rho = the plugin's declared error bound over the direct-sum bound (what torch's float32 conv is held to), "
    "summed over each training layer's outputs y, dx, dw, db, largest over layers and outputs.",
    "Why: while divergences stay small the trajectory responds linearly to the rounding injected each step; the "
    "plugin injects at most rho times torch's conv rounding and the same rounding elsewhere, so "
    "d(plugin, exact) <= max(1, rho) x width, and d(plugin, torch) <= d(plugin, exact) + d(exact, torch) "
    "(triangle inequality). A direct-sum plugin gets 2.",
    "The activation is softplus (smooth ReLU) by default: ReLU's derivative jumps at 0, so a pre-activation "
    "within rounding of 0 takes the other branch in one run and the trajectories separate by a jump that no "
    "rounding analysis bounds (--activation relu shows it).",
]


def build_training(baselines: list[T.Baseline], checks: list[T.Check], *, steps: int, seed: int, activation: str,
                   seconds: float) -> dict:
    from . import environment

    variants = []
    for b in baselines:
        entry = baseline_entry(b)
        entry["checks"] = [check_entry(c) for c in checks if c.variant == b.schedule.variant.name]
        variants.append(entry)
    impls = list(dict.fromkeys(c.impl for c in checks))
    verdict = {i: "agree" if all(c.ok for c in checks if c.impl == i) else
               next(c.status for c in checks if c.impl == i and not c.ok) for i in impls}
    return _clean({"schema": SCHEMA, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "run": {"steps": steps, "seed": seed, "activation": activation, "impls": impls,
                    "variants": [b.schedule.variant.name for b in baselines], "seconds": round(seconds, 1)},
            "method": METHOD, "verdicts": verdict, "variants": variants,
            "environment": environment.describe()})    # non-finite floats as "inf" / "nan", as every report


def write_training(report: dict, out_dir: str = "reports") -> dict[str, str]:
    """Render all three formats first, then replace each file atomically; returns the paths."""
    # compact JSON: a thousand per-step numbers per run, one per line, would make it a megabyte
    texts = {"json": json.dumps(report, separators=(",", ":"), allow_nan=False) + "\n", "md": render_markdown(report),
             "html": render_html(report)}
    return write_report_files("training", texts, out_dir)


# ---- tables ---------------------------------------------------------------------------------------
def _final(traj: dict | None, key: str):
    if not traj:
        return None
    if key == "test_accuracy":
        return traj["test_accuracy"][-1][1] if traj["test_accuracy"] else None
    return traj[key][-1]


SUMMARY_HEADER = ["implementation", "variant", "verdict", "multiple", "worst metric", "max d / width",
                  "first step outside", "final loss (plugin / torch)", "test accuracy (plugin / torch)", "s"]


def summary_rows(report: dict) -> list[list]:
    rows = []
    for v in report["variants"]:
        for c in v["checks"]:
            t = c.get("trajectory")
            first = c.get("first_outside")
            rows.append([c["impl"], v["variant"], c["status"], fmt(c["multiple"]),
                         c.get("worst") or "-", fmt(c.get("ratio", {}).get(c.get("worst"))),
                         f"{first[1]} ({first[0]})" if first else "-",
                         f"{fmt(_final(t, 'loss'), 4)} / {fmt(_final(v['torch'], 'loss'), 4)}" if t else "-",
                         f"{fmt(_final(t, 'test_accuracy'))} / {fmt(_final(v['torch'], 'test_accuracy'))}" if t
                         else "-", fmt(c["seconds"])])
            if c["detail"]:
                rows[-1][4] = c["detail"]
    return rows


def divergence_rows(report: dict) -> tuple[list[str], list[list]]:
    """max_t d(plugin, torch) / width per metric: the divergence table (agreement: every cell <= multiple)."""
    header = ["implementation", "variant", "multiple", *T.METRICS]
    rows = [[c["impl"], v["variant"], fmt(c["multiple"]), *[fmt(c["ratio"].get(m)) for m in T.METRICS]]
            for v in report["variants"] for c in v["checks"] if "ratio" in c]
    return header, rows


def baseline_rows(report: dict) -> tuple[list[str], list[list]]:
    header = ["variant", "layers", "steps", "torch test acc", "exact test acc", *[f"width {m}" for m in T.METRICS]]
    rows = [[v["variant"], "; ".join(v["layers"]), len(v["torch"]["loss"]), fmt(_final(v["torch"], "test_accuracy")),
             fmt(_final(v["exact"], "test_accuracy")), *[fmt(v["width"][m]) for m in T.METRICS]]
            for v in report["variants"]]
    return header, rows


def self_check_rows(report: dict) -> tuple[list[str], list[list]]:
    """The band on correct summation orders: each reordered torch run measured like a plugin."""
    header = ["variant", "torch run", *T.METRICS]
    rows = [[v["variant"], f"order {i + 1}", *[fmt(r[m]) for m in T.METRICS]]
            for v in report["variants"] for i, r in enumerate(v["self_check"])]
    return header, rows


def rho_rows(report: dict) -> tuple[list[str], list[list]]:
    header = ["implementation", "variant", "layer", "y", "dx", "dw", "db"]
    rows = [[c["impl"], v["variant"], layer, *[fmt(r.get(o)) for o in ("y", "dx", "dw", "db")]]
            for v in report["variants"] for c in v["checks"] for layer, r in c["rho"].items()]
    return header, rows


def trajectory_rows(v: dict, every: int = T.EVAL_EVERY) -> tuple[list[str], list[list]]:
    """Batch loss of torch and each plugin every ``every`` steps, and the test accuracies."""
    checks = [c for c in v["checks"] if c.get("trajectory")]
    header = ["step", "torch loss", *[f"{c['impl']} loss" for c in checks], "torch test acc",
              *[f"{c['impl']} test acc" for c in checks]]
    tests = {c["impl"]: dict(map(tuple, c["trajectory"]["test_accuracy"])) for c in checks}
    torch_tests = dict(map(tuple, v["torch"]["test_accuracy"]))
    rows = []
    for step in sorted(torch_tests):
        rows.append([step, fmt(v["torch"]["loss"][step - 1], 4),
                     *[fmt(c["trajectory"]["loss"][step - 1], 4) for c in checks], fmt(torch_tests[step]),
                     *[fmt(tests[c["impl"]].get(step)) for c in checks]])
    return header, rows


def sections(report: dict, plots: bool = True) -> list[Section]:
    """The training report as sections (:mod:`conv_oracle.render`): Markdown and HTML both come
    from here. ``plots``: draw the SVG plots (only the HTML shows them)."""
    run = report["run"]
    head = Section("").p(f"Schema {report['schema']}, created {report['created']}. Steps {run['steps']}, seed "
                         f"{run['seed']}, activation {run['activation']}, {run['seconds']} s.", small=True)
    head.p(f"Replay one row: conv-oracle train IMPL --steps {run['steps']} --seed {run['seed']} "
           f"--activation {run['activation']}")
    method = Section("Method", "method").items(report["method"])
    rows = summary_rows(report)
    verdicts = Section("Verdicts", "verdicts").table(
        SUMMARY_HEADER, rows, [[None, None, "pass" if r[2] == "agree" else "fail"] + [None] * 7 for r in rows])
    divergence = Section("Divergence from torch, in baseline widths", "divergence")
    divergence.p("max over the run of d(plugin, torch) divided by the width W (the largest max_t d(run, exact) of the "
                 "four float32 torch runs); agreement when every cell is at most the multiple.", small=True)
    divergence.table(*divergence_rows(report))
    variants = []
    for v in report["variants"]:
        section = Section(f"Trajectories: {v['variant']}", f"variant-{v['variant']}")
        section.p(f"Layers: {'; '.join(v['layers'])}; batch {v['batch']}, lr {v['lr']}, {v['train_images']} training "
                  f"and {v['test_images']} held-out images.", small=True)
        section.svg(plot_variant(v) if plots else None)
        variants.append(section.table(*trajectory_rows(v)))
    baseline = Section("Baseline: torch float32 (four summation orders) against the exact float64 run", "baseline")
    baseline.table(*baseline_rows(report))
    baseline.p("Correct summation orders measured like a plugin (max_t d(reordered torch, torch) / width; a direct "
               "sum's multiple is 2):", small=True).table(*self_check_rows(report))
    rho = Section("Declared bound over the direct-sum bound (rho)", "rho").table(*rho_rows(report))
    env = Section("Environment", "environment").table(["what", "value"], environment_lines(report["environment"]))
    return [head, method, verdicts, divergence, *variants, baseline, rho, env]


def render_markdown(report: dict) -> str:
    return to_markdown(TITLE, sections(report, plots=False))


def render_html(report: dict) -> str:
    return to_html(TITLE, sections(report))


# ---- plots ----------------------------------------------------------------------------------------
def _in_widths(divergence: dict, width: dict) -> list:
    """Per step: the largest d / width over the metrics (NaN counts as infinite)."""
    per = [[float(d) / width[k] if np.isfinite(float(d)) else np.inf for d in divergence[k]] for k in T.METRICS]
    return [max(vals) for vals in zip(*per)]


def plot_variant(v: dict) -> str | None:
    """Left: batch loss of every run. Middle: test accuracy. Right: divergence from torch over the
    steps in baseline widths (torch vs exact in grey, at most 1), each plugin's band edge (its
    multiple) dashed in its colour."""
    checks = [c for c in v["checks"] if c.get("trajectory")]
    plt = _plt()
    fig, (ax, bx, cx) = plt.subplots(1, 3, figsize=(14, 3.9))
    steps = np.arange(1, len(v["torch"]["loss"]) + 1)
    ax.plot(steps, v["torch"]["loss"], color="k", lw=2, label="torch f32")
    ax.plot(steps, v["exact"]["loss"], color="0.6", lw=1, ls="--", label="torch f64 (exact)")
    for i, c in enumerate(checks):
        ax.plot(steps, [float(x) for x in c["trajectory"]["loss"]], color=f"C{i}", lw=0.8,
                alpha=0.8, label=c["impl"].replace("conv_oracle.mutants:", ""))
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("batch loss")
    ax.set_title(f"{v['variant']}: loss")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=6)
    bx.plot(*zip(*v["torch"]["test_accuracy"]), "-o", ms=3, color="k", lw=2)
    for i, c in enumerate(checks):
        bx.plot(*zip(*c["trajectory"]["test_accuracy"]), "-", color=f"C{i}", lw=0.9, alpha=0.8)
    bx.set_ylim(0, 1.02)
    bx.set_xlabel("step")
    bx.set_ylabel("test accuracy")
    bx.set_title("accuracy on held-out images")
    bx.grid(alpha=0.3)
    members = [v["divergence"], *v["reordered_divergence"]]
    base = np.max([_in_widths(d, v["width"]) for d in members], axis=0)
    cx.fill_between(steps, 0, base, color="0.75", lw=0, label="torch f32 (every order) vs exact: the baseline")
    for i, c in enumerate(checks):
        cx.plot(steps, _in_widths(c["divergence"], v["width"]), color=f"C{i}", lw=0.9)
        cx.axhline(c["multiple"], color=f"C{i}", lw=0.8, ls="--")
    cx.set_yscale("log")
    cx.set_xlabel("step")
    cx.set_ylabel("max over metrics of d / width")
    cx.set_title("divergence from torch; dashed: each band's edge")
    cx.grid(alpha=0.3)
    cx.legend(fontsize=6)
    return _svg(fig)
