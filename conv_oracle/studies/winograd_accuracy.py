"""Accuracy study of Winograd F(m x m, r x r) in float32, for the conformance report.

For m in {2, 4, 6, 8}, classic and improved interpolation points, and C in {16, 64, 256}
input channels: the normwise relative error ``||y_hat - y||_F / ||y||_F`` of the float32
forward against the float64 direct reference (the harness's torch oracle on the same
float32-rounded inputs), N(0,1) data, r x r kernels (3x3 for the report; ``kernels`` or
``--kernels`` for others), a 48x48 output ((47 + r)^2 input, no padding), N=1 and F=16 to
keep the study under a minute, one fixed seed. The same cases
run through the project's ``im2col`` and ``fft`` plugins (and torch's own float32 conv) as
baselines; a plugin that cannot be loaded or refuses the case is recorded as unavailable.

The Winograd plugins come from the public factory :func:`impls.winograd.winograd_plugin`
(any tile size, either point set; the registered plugins are some of them). For those rows it
also reports the tightness of the declared error model on the same cases, the bound checked by
:func:`conv_oracle.bounds.checked_model_bounds` and the error judged by
:func:`conv_oracle.compare.compare_output` (the harness's one comparator): the largest
per-element ``error / bound`` and the normwise ratio ``||error|| / ||bound||``. A bound
violation would show as a tightness above 1 and ``bound_holds`` false, reported, never hidden.

Run: ``.venv/bin/python -m conv_oracle.studies.winograd_accuracy [--kernels 2 3 4 5] [--channels 16 64]
[--tiles 4 6]`` (prints a table, then JSON).
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np

from ..spec import ConvSpec

TILES = (2, 4, 6, 8)
POINTS = ("classic", "improved")
CHANNELS = (16, 64, 256)
KERNELS = (3,)
N, F, OUT, SEED = 1, 16, 48, 20240601
BASELINES = ("im2col", "fft")


def _spec(c: int, r: int = 3) -> ConvSpec:
    return ConvSpec.make(N, c, OUT + r - 1, OUT + r - 1, F, r, padding=0, bias=False, dtype="float32")


def _arrays(spec: ConvSpec, seed: int):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(spec.x_shape).astype(np.float32)
    w = rng.standard_normal(spec.w_shape).astype(np.float32)
    return x, w


def _relerr(y, ref) -> float:
    return float(np.linalg.norm(np.asarray(y, np.float64) - ref) / np.linalg.norm(ref))


def _truth_and_context(spec: ConvSpec, x, w):
    """The float64 truth of y and the bound context of the case (y only: the study is forward)."""
    from .. import bounds as B
    from ..oracles.torch_oracle import reference

    x64, w64, gy = x.astype(np.float64), w.astype(np.float64), np.zeros(spec.y_shape)
    truth, scale = reference(spec, x64, w64, None, gy)
    ctx = B.BoundContext(spec, x64, w64, None, gy, scale, B.terms(spec), ("y",), truth)
    return truth["y"], ctx


def run(channels=CHANNELS, tiles=TILES, seed: int = SEED, kernels=KERNELS) -> dict:
    """The study as a JSON-serialisable dict: settings, rows (each with its kernel size ``r``) and notes."""
    from impls.winograd import winograd_plugin
    from impls.winograd_transforms import IMPROVED_9_NOTE, points_for

    from .. import bounds as B
    from .. import registry
    from ..compare import compare_output

    t0 = time.perf_counter()
    rows = []
    baselines = {}
    for name in BASELINES:
        try:
            baselines[name] = registry.load(name)
        except Exception as exc:  # another team's plugin may be missing or broken
            baselines[name] = f"unavailable: {type(exc).__name__}: {exc}"
    for r, c in ((r, c) for r in kernels for c in channels):
        spec = _spec(c, r)
        x, w = _arrays(spec, seed)
        ref, ctx = _truth_and_context(spec, x, w)
        for m in tiles:
            for points in POINTS:
                plugin = winograd_plugin(m, points)
                y = plugin.forward(x, w, None, spec)
                bound = B.checked_model_bounds(plugin.error_model, ctx)["y"]     # the declared model alone
                verdict = compare_output("y", y, ref, bound, spec.dtype, ctx.scale["y"])
                rows.append(dict(
                    impl=f"winograd F({m},{r})", m=m, r=r, points=points,
                    point_set=[str(p) for p in points_for(m + r - 2, points)] + ["inf"],
                    C=c, rel_error=_relerr(y, ref),
                    tightness_max=verdict.max_ratio,
                    tightness_norm=float(np.linalg.norm(y.astype(np.float64) - ref) / np.linalg.norm(bound)),
                    bound_rel=verdict.bound_power,
                    bound_holds=verdict.ok))
        for name, plugin in baselines.items():
            row = dict(impl=name, r=r, C=c)
            if isinstance(plugin, str):
                row["rel_error"] = plugin
            else:
                try:
                    row["rel_error"] = _relerr(plugin.forward(x, w, None, spec), ref)
                except Exception as exc:
                    row["rel_error"] = f"unavailable: {type(exc).__name__}: {exc}"
            rows.append(row)
        import torch
        import torch.nn.functional as TF
        rows.append(dict(impl="torch f32 conv2d", r=r, C=c,
                         rel_error=_relerr(TF.conv2d(torch.from_numpy(x), torch.from_numpy(w)).numpy(), ref)))
    return dict(
        study="winograd-accuracy",
        settings=dict(N=N, F=F, output=[OUT, OUT], kernels=[f"{r}x{r}" for r in kernels], padding=0, dtype="float32",
                      data="N(0,1)", seed=seed, reference="torch.nn.functional.conv2d float64 on the rounded inputs",
                      metric="||y - y_ref||_F / ||y_ref||_F"),
        rows=rows,
        notes=[IMPROVED_9_NOTE,
               "F(2,3) classic and improved are the same points {0, 1, -1, inf}.",
               "tightness_max: max per-element error/bound (<= 1 means the bound holds); "
               "tightness_norm: ||error|| / ||bound||; bound_rel: ||bound|| / ||y_ref||."],
        seconds=round(time.perf_counter() - t0, 2),
    )


def table(result: dict) -> str:
    """A plain text table of :func:`run`'s rows: implementations down, C across; each cell the
    relative error, and for the Winograd rows ``(||bound|| / ||y||)`` beside it."""
    rows = result["rows"]
    cs = sorted({r["C"] for r in rows})
    keys = list(dict.fromkeys((r["impl"], r.get("points", ""), r["r"]) for r in rows))
    several = len({k[2] for k in keys}) > 1
    lines = [f"{'implementation':<22}{'points':<10}" + "".join(f"{'C=' + str(c) + ' err (bound)':>24}" for c in cs)
             + "   tightness(max err/bound)"]
    for k in keys:
        cells, tight = [], []
        for c in cs:
            r = next(r for r in rows if (r["impl"], r.get("points", ""), r["r"]) == k and r["C"] == c)
            v = r["rel_error"]
            cell = f"{v:.2e}" if isinstance(v, float) else "n/a"
            if "bound_rel" in r:
                cell += f" ({r['bound_rel']:.2e})"
            cells.append(f"{cell:>24}")
            if "tightness_max" in r:
                tight.append(f"{r['tightness_max']:.1e}")
        label = f"{k[0]} {k[2]}x{k[2]}" if several and "(" not in k[0] else k[0]
        lines.append(f"{label:<22}{k[1]:<10}" + "".join(cells) + ("   " + " ".join(tight) if tight else ""))
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m conv_oracle.studies.winograd_accuracy",
                                     description="Winograd float32 error and declared bound per tile and kernel size")
    parser.add_argument("--kernels", type=int, nargs="+", default=list(KERNELS), help="kernel sizes r (r x r)")
    parser.add_argument("--channels", type=int, nargs="+", default=list(CHANNELS))
    parser.add_argument("--tiles", type=int, nargs="+", default=list(TILES), help="output tile sizes m")
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    res = run(tuple(args.channels), tuple(args.tiles), args.seed, tuple(args.kernels))
    print(table(res))
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
