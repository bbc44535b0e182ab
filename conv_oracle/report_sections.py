"""The conformance report as sections (:mod:`conv_oracle.render`), rendered to Markdown and
HTML from the report dict alone, plus its plots."""
from __future__ import annotations

from .aggregate import OUTPUTS, STATE_TEXT, STATES
from .render import Section, _plt, _svg, environment_lines, fmt, to_html, to_markdown

TITLE = "conv-oracle conformance report"


def _impl_rows(report):
    return [e for e in report["implementations"] if "matrix" in e]


def _cell(cell: dict) -> str:
    counts = ", ".join(f"{cell[k]} {k}" for k in ("pass", "fail", "refused", "answered") if cell[k])
    return f"{cell['state']}" + (f" ({counts})" if counts and cell["state"] != "not-exercised" else "")


def _names(names) -> str:
    return ", ".join(names) or "-"


def sections(report: dict) -> list[Section]:
    run, summ = report["run"], report["summary"]
    head = Section("")
    head.p(f"Schema {report['schema']}, created {report['created']}. Profile {run['profile']}, seed {run['seed']}, "
           f"{run['examples_per_impl']} examples per implementation, {fmt(run['seconds'])} s; "
           f"{run.get('spec_families', 'spec families not recorded')}.", small=True)
    head.p("Correct means within the implementation's declared error bound of the float64 torch oracle "
           "(JAX cross-checks the oracle); the oracle-free relations and the declared-unsupported search are "
           "part of the verdict. A campaign that drew fewer than half its examples is insufficient, not a pass.")
    head.p(f"{len(summ['passing'])} passing: {_names(summ['passing'])}; {len(summ['failing'])} failing: "
           f"{_names(summ['failing'])}; insufficient: {_names(summ.get('insufficient', []))}; unavailable: "
           f"{_names(summ['unavailable'])}; {summ['failures']} distinct failures (shrunk); "
           f"{summ['disagreements']} oracle disagreements.")

    impls = Section("Implementations", "implementations")
    rows, classes = [], []
    for e in report["implementations"]:
        if "matrix" in e:
            rows.append([e["name"], e["status"], e["examples"], e.get("shrink_calls", 0), e["honesty_examples"],
                         e["refused"], len(e["failures"]), e["cross_checked"], e["capabilities"] if "capabilities"
                         in e else "", e.get("error_model", "")])
        else:
            rows.append([e["name"], e["status"], "-", "-", "-", "-", "-", "-", "", e.get("error") or ""])
        classes.append([None, "pass" if e["status"] == "pass" else "fail"] + [None] * 8)
    impls.table(["implementation", "verdict", "examples (distinct)", "shrink calls", "unsupported offered",
                 "refused", "failures", "JAX cross-checked", "capabilities", "error model / cause"], rows, classes)
    impls.items(f"{e['name']}: insufficient: {e['insufficient']}" for e in _impl_rows(report) if e.get("insufficient"))
    impls.items(f"{e['name']}: search stopped at its first {e['stopped_by']} fault"
                for e in _impl_rows(report) if e.get("stopped_by"))

    matrix = Section("Feature matrix", "matrix")
    matrix.p("Cell states: " + "; ".join(f"{s} = {STATE_TEXT[s]}" for s in STATES)
             + ". A cell shows its most severe state, with the case counts behind it. Declared-unsupported "
               "configurations are offered forward only; the refusal counts for every output.", small=True)
    labels = [f["label"] for f in report["features"]]
    for e in _impl_rows(report):
        rows, classes = [], []
        for o in report["outputs"]:
            cells = [e["matrix"][o][f["id"]] for f in report["features"]]
            rows.append([o, *[_cell(c) for c in cells]])
            classes.append([None, *[c["state"] for c in cells]])
        matrix.h3(e["name"])
        if e.get("capabilities"):
            matrix.p(e["capabilities"])
        matrix.table(["output", *labels], rows, classes)

    errors = Section("Error against the bound", "errors")
    errors.p("Per output: verdicts checked, the max and median over cases of the case's max error/bound (cases with "
             "a non-zero bound), the integer-fill cases that had to be exact, and the bound power: the median over "
             "cases of ||bound|| / ||y|| (how much room a pass had; near 1 or above, the bound says little).",
             small=True)
    errors.table(["implementation", "output", "checked", "failed", "max err/bound", "median err/bound", "exact ok",
                  "bound power (median)", "bound power (max)"],
                 [[e["name"], o, s["checked"], s["failed"], fmt(s["max_ratio"]), fmt(s["median_ratio"]),
                   f"{s['exact_checked'] - s['exact_failed']}/{s['exact_checked']}", fmt(s.get("bound_power")),
                   fmt(s.get("bound_power_max"))]
                  for e in _impl_rows(report) for o, s in e["errors"].items()])
    errors.svg(plot_ratios(report))

    relations = Section("Oracle-free relations", "relations")
    relations.p("Adjoint identity and metamorphic relations on each implementation's own outputs, each side "
                "within its declared bound; a violation is a failure of kind relation: NAME.", small=True)
    relations.table(["implementation", "relation", "checked", "failed", "not run because"],
                    [[e["name"], name, s["checked"], s["failed"], s["skipped"] or "-"]
                     for e in _impl_rows(report) for name, s in e.get("relations", {}).items()])

    failures = Section("Failures", "failures")
    found = [(e["name"], f) for e in _impl_rows(report) for f in e["failures"]]
    if not found:
        failures.p("None.")
    for name, f in found:
        failures.h3(f"{name}: {f['descriptor']} ({f['kind']}, {f['outputs']})")
        failures.p(f"search {f.get('search', 'oracle')}; seed {f['seed']}, fill {f['fill']}"
                   + (f"; {f['detail']}" if f["detail"] else ""))
        bounded = [w for w in f["worst"] if w["kind"] == "bound"]
        if bounded:
            failures.table(["output", "worst index", "got", "expected", "error", "bound", "error/bound", "mismatched"],
                           [[w["output"], w["index"], fmt(w.get("got")),
                             "exactly 0" if w.get("expected_zero") else fmt(w.get("expected")), fmt(w["error"]),
                             fmt(w["bound"]), fmt(w["ratio"]), f"{w['mismatched']}/{w['total']}"] for w in bounded])
        failures.items(f"{w['output']} [{w['kind']}]: {w['detail']}" for w in f["worst"] if w["kind"] != "bound")
        if f.get("hint"):
            failures.p(f["hint"])
        failures.pre(f["replay"])
        first = f.get("first")
        if first and (first["descriptor"], first["seed"], first["fill"]) != (f["descriptor"], f["seed"], f["fill"]):
            failures.p(f"First failing case, before shrinking: {first['descriptor']} (seed {first['seed']}, "
                       f"fill {first['fill']}):")
            failures.pre(first["replay"])
    failures.items(f"{e['name']} ({e['status']}): {e.get('error')}" for e in report["implementations"]
                   if "matrix" not in e)

    oracle = Section("Oracle disagreements (torch vs JAX)", "disagreements")
    if not report["disagreements"]:
        oracle.p("None: JAX agreed with torch within 2 gamma_K(u64) on every cross-checked case.")
    else:
        oracle.table(["descriptor", "seed", "fill", "from", "outputs"],
                     [[d["descriptor"], d["seed"], d["fill"], d["impl"],
                       "; ".join(f"{v['output']} {v['kind']} ratio {fmt(v['max_ratio'])}" for v in d["verdicts"])]
                      for d in report["disagreements"]])

    studies = Section("Studies", "studies")
    if not report["studies"]:
        studies.p("Not run.")
    for key, data in report["studies"].items():
        studies.h3(key.replace("_", " "))
        if "unavailable" in data:
            studies.p(f"unavailable: {data['unavailable']}")
            continue
        if data.get("settings"):
            studies.p("Settings: " + ", ".join(f"{k}={v}" for k, v in data["settings"].items()), small=True)
        for title, header, rows in study_tables(key, data):
            studies.p(title).table(header, rows)
        plot = {"winograd_accuracy": plot_winograd, "fft_tightness": plot_fft}.get(key)
        studies.svg(plot(data) if plot else plot_generic_study(data, key))
        studies.items(data.get("notes", []))

    env = Section("Environment", "environment").table(["what", "value"], environment_lines(report["environment"]))
    return [head, impls, matrix, errors, relations, failures, oracle, studies, env]


def render_markdown(report: dict) -> str:
    return to_markdown(TITLE, sections(report))


def render_html(report: dict) -> str:
    return to_html(TITLE, sections(report))


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
    if data.get("deciding"):
        tables.append(("The cases that decide each verdict: the next stricter model broken, the worst case within "
                       "the verdict's model",
                       ["implementation", "dtype", "role", "model", "output", "K", "err/bound", "replay or detail"],
                       [[d["implementation"], d["dtype"], d["role"], d["model"], d.get("output", "-"),
                         fmt(d.get("K")), fmt(d.get("ratio")), d.get("replay") or d.get("detail", "-")]
                        for d in data["deciding"]]))
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
