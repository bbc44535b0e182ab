"""The FFT plugin's normwise error bound, measured: tightness and the per-element contrast.

Two JSON-serialisable studies for the conformance report, both against the torch float64
oracle on the rounded inputs, through the same code the harness runs
(:func:`conv_oracle.runner.run_case`, :func:`conv_oracle.runner.bound_context`):

* :func:`tightness`: the measured error / bound (model + reference error) of every output
  over a deterministic set of random problems (strides, dilation, groups, padding larger
  than the kernel, float32 and float64, normal and wide-magnitude fills) and a few layer-size
  cases. A ratio above 1 is a violation and would be a finding.
* :func:`half_scaled`: one half of the image scaled by 1e-4. The FFT spreads the rounding
  error of the large half over the whole plane, so on the tiny half the error exceeds a
  per-element ``gamma_K * sum|x||w|`` bound, which would falsely fail a correct FFT, while the
  normwise bound still holds.

Run: ``python -m conv_oracle.studies.fft_bound [--cases N] [--json PATH]``.
"""
from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from .. import bounds as B
from ..cases import CaseArrays, make_arrays
from ..compare import compare_output
from ..runner import bound_context, run_case
from ..spec import ConvSpec, SpecError

#: Larger problems (bench layers f and a strided/grouped one) added to the random ones.
LAYER_CASES = ("n4c32h64w64f32k11p5 f32", "n2c16h40w40f16k7s2p3 f32", "n2c8h33w29f8k5x3s3x2p2,4,1,0d2x1g4b1 f64",
               "n1c16h128w128f16k31p15 f32")


def random_specs(count: int, seed: int = 0, *, max_side: int = 24) -> list[ConvSpec]:
    """``count`` valid specs drawn with numpy (deterministic): groups, strides, dilation,
    asymmetric and larger-than-kernel padding, both dtypes, bias or none."""
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < count:
        g = int(rng.integers(1, 4))
        kh, kw = (int(v) for v in rng.integers(1, 8, 2))
        dh, dw = (int(v) for v in rng.integers(1, 4, 2))
        pads = tuple(tuple(int(v) for v in rng.integers(0, d * (k - 1) + 3, 2)) for k, d in ((kh, dh), (kw, dw)))
        try:
            spec = ConvSpec(int(rng.integers(1, 4)), g * int(rng.integers(1, 5)), int(rng.integers(1, max_side + 1)),
                            int(rng.integers(1, max_side + 1)), g * int(rng.integers(1, 5)), kh, kw,
                            tuple(int(v) for v in rng.integers(1, 4, 2)), pads, (dh, dw), g,
                            bool(rng.integers(0, 2)), str(rng.choice(["float32", "float64"])))
        except SpecError:
            continue
        out.append(spec)
    return out


def tightness(count: int = 200, seed: int = 0, *, fills=("normal", "magnitudes"), layers=LAYER_CASES,
              plugin=None) -> dict:
    """Measured error / bound per output over random and layer-size cases."""
    from .. import registry

    plugin = plugin or registry.load("fft")       # through the registry, like any plugin
    specs = [(s, fills[i % len(fills)]) for i, s in enumerate(random_specs(count, seed))]
    specs += [(ConvSpec.parse(d), "normal") for d in layers]
    records = []
    for i, (spec, fill) in enumerate(specs):
        result = run_case(plugin, spec, seed + i, fill)
        records.append({"descriptor": spec.descriptor(), "fill": fill, "seed": seed + i, "status": result.status,
                        "kind": result.kind,
                        "outputs": {v.output: {"max_ratio": float(v.max_ratio), "median_ratio": float(v.median_ratio),
                                               "worst_error": float(v.worst_error), "worst_bound": float(v.worst_bound)}
                                    for v in result.verdicts}})
    summary: dict = {}
    for r in records:
        dtype = r["descriptor"].split()[-1]
        for o, v in r["outputs"].items():
            summary.setdefault(o, {}).setdefault(dtype, []).append((v["max_ratio"], r["descriptor"], r["fill"]))
    table = {}
    for o, per_dtype in summary.items():
        for dtype, vals in per_dtype.items():
            ratios = np.array([v[0] for v in vals])
            worst = max(vals)
            table.setdefault(o, {})[dtype] = {
                "cases": len(vals), "max": float(ratios.max()), "median": float(np.median(ratios)),
                "p90": float(np.quantile(ratios, 0.9)), "worst_case": f"{worst[1]} ({worst[2]})",
                "violations": int((ratios > 1).sum())}
    return {"study": "fft-bound-tightness", "model": plugin.error_model.describe(), "count": len(records),
            "failures": [r for r in records if r["status"] != "pass"], "summary": table, "cases": records}


def half_scaled(descriptor: str = "n1c8h64w64f8k9p4b0 f32", factor: float = 1e-4, seed: int = 0,
                plugin=None) -> dict:
    """x's right half (columns >= W/2) scaled by ``factor``. Returns, for y, the error against
    the normwise FFT bound and against the per-element direct-summation (gamma_K) bound, both
    plus the reference's own error, over the outputs that read only the scaled half."""
    from .. import registry

    plugin = plugin or registry.load("fft")       # through the registry, like any plugin
    spec = ConvSpec.parse(descriptor)
    base = make_arrays(spec, seed, "normal")
    x = base.x.copy()
    x[..., spec.w // 2:] *= np.asarray(factor, dtype=x.dtype)
    arrays = CaseArrays(x, base.w, base.b, base.gy)
    y = plugin.forward(arrays.x, arrays.w, arrays.b, spec)
    a64 = arrays.as_float64()
    from ..oracles.torch_oracle import reference

    truth, scale = reference(spec, a64.x, a64.w, a64.b, a64.gy)
    ctx = bound_context(spec, a64, scale, truth)
    normwise = B.total_bounds(plugin.error_model, ctx, "normal")["y"]       # checked, plus the reference's error
    per_element = B.total_bounds(B.DirectSum(), ctx, "normal")["y"]
    err = np.abs(y.astype(np.float64) - truth["y"])
    # output columns whose receptive field lies inside the scaled half
    (_, _), (pl, _) = spec.padding
    cols = np.arange(spec.out_hw[1]) * spec.stride[1] - pl
    tiny = cols >= spec.w // 2
    mask = np.zeros(truth["y"].shape, dtype=bool)
    mask[..., tiny] = True

    def verdict(bound, columns=slice(None)):       # the harness's comparison, on all or some columns
        return compare_output("y", y[..., columns], truth["y"][..., columns], bound[..., columns], spec.dtype,
                              scale["y"][..., columns])
    held, gamma_k, gamma_k_tiny = verdict(normwise), verdict(per_element), verdict(per_element, tiny)
    return {
        "study": "fft-half-scaled", "descriptor": spec.descriptor(), "factor": factor, "seed": seed,
        "tiny_outputs": int(mask.sum()), "outputs": int(err.size),
        "normwise": {"max_ratio": held.max_ratio, "holds": held.ok},
        "gamma_K": {"max_ratio": gamma_k.max_ratio,
                    "max_ratio_tiny_half": gamma_k_tiny.max_ratio if tiny.any() else None,
                    "violations": gamma_k.mismatched, "violations_in_tiny_half": gamma_k_tiny.mismatched,
                    "would_fail": not gamma_k.ok},
        "tiny_half": {"median_abs_y": float(np.median(np.abs(truth["y"][mask]))) if mask.any() else None,
                      "max_error": float(err[mask].max()) if mask.any() else None},
        "large_half": {"median_abs_y": float(np.median(np.abs(truth["y"][~mask]))),
                       "max_error": float(err[~mask].max())},
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="FFT normwise bound: tightness and the half-scaled contrast")
    p.add_argument("--cases", type=int, default=200, help="random cases for the tightness study (default 200)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", metavar="PATH", help="write both studies as JSON here")
    args = p.parse_args(argv)
    result = {"tightness": tightness(args.cases, args.seed),
              "half_scaled": [half_scaled(), half_scaled("n1c8h64w64f8k9p4b0 f64"),
                              half_scaled("n2c16h64w64f16k11s2p5b1 f32")]}
    for o, per in result["tightness"]["summary"].items():
        for dtype, s in per.items():
            print(f"{o:>2} {dtype}: {s['cases']:4d} cases, error/bound max {s['max']:.3g} median {s['median']:.3g} "
                  f"p90 {s['p90']:.3g}, violations {s['violations']} (worst: {s['worst_case']})")
    for h in result["half_scaled"]:
        print(f"{h['descriptor']} x half *{h['factor']:g}: normwise max ratio {h['normwise']['max_ratio']:.3g} "
              f"(holds {h['normwise']['holds']}); gamma_K max ratio {h['gamma_K']['max_ratio']:.3g}, "
              f"{h['gamma_K']['violations']} violations ({h['gamma_K']['violations_in_tiny_half']} in the tiny half)")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(result, fh, indent=1)
    return 0 if not result["tightness"]["failures"] else 1


if __name__ == "__main__":
    sys.exit(main())
