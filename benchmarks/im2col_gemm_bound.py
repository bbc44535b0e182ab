"""How far im2col's forward is from its own GEMM-bound limit, and that limit from sgemm.

Issue 3 sets "at least 80 % of the machine's sgemm GFLOP/s" for the float32 forward of
layers a-d, which it calls "within 1.25x of the GEMM-bound limit". This measures the limit
for im2col as built: the very GEMMs its forward makes (one per sample and group, on the
same workers with BLAS at one thread each, into the output), on columns prepared before
timing, so what is left is the column copy alone. Three candidates, interleaved in the same
rounds (``conv_oracle.bench.time_interleaved``: gap, one settling call, one timed warm call):

* ``sgemm``     numpy float32 n x n (n = 2048), the reference rate;
* ``gemms``     im2col's GEMMs alone, columns ready;
* ``im2col``    the whole forward (copy + GEMMs).

torch is left to ``conv-oracle bench``: its time depends on what else the process holds (on
layer d each call took 12.5k page faults and 34 ms without JAX in the process, none and 17 ms
with a JAX candidate timed alongside, as the bench has).

Run under the exclusive CPU lock; ``--single-core`` re-runs it pinned to one CPU::

    flock -x /tmp/conv-oracle-cpu.lock .venv/bin/python benchmarks/im2col_gemm_bound.py [--layers a,b,c,d] [--single-core]
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys

import numpy as np

from conv_oracle import bench
from impls import im2col


def gemms_only(spec):
    """A callable running im2col's forward GEMMs for ``spec`` on columns built beforehand:
    the same per-sample (nb=1) GEMMs into y, on the same workers, BLAS at one thread. It
    returns y: the forward's own output whenever the forward adds no separate bias pass."""
    plugin = im2col.Im2colConv()
    x, w, b, _ = bench.make_arrays(spec)
    workers, nb, rows = plugin.plan(spec)
    if nb != 1 or rows != spec.out_hw[0]:
        raise ValueError(f"{spec.descriptor()}: row blocks or multi-sample chunks; this study covers whole samples")
    g, fg = spec.groups, spec.f // spec.groups
    fold = b is not None and im2col._folds_bias(spec)
    wm = im2col.forward_weights(w, b, spec)
    per_sample = im2col.column_bytes(spec, 1) // np.dtype(spec.dtype).itemsize
    cols = [im2col._columns(x[n:n + 1], spec, np.empty(per_sample, spec.dtype), fold) for n in range(spec.n)]
    y = np.empty(spec.y_shape, dtype=spec.dtype)
    p = spec.out_hw[0] * spec.out_hw[1]

    def job(t, n):
        np.matmul(wm, cols[n], out=y[n:n + 1].reshape(1, g, fg, p))

    def run():
        im2col._run(workers, [(n,) for n in range(spec.n)], job)
        return y
    return run


def measure(layer: str, repeats: int, gap: float, n: int) -> dict:
    spec = bench.LAYERS[layer]
    candidates = {"sgemm": bench.gemm_candidate(n, "float32"), "gemms": gemms_only(spec),
                  "im2col": bench.plugin_candidate("im2col", spec)}
    timed = bench.time_interleaved(candidates, repeats=repeats, gap=gap)
    med = {name: statistics.median(t["warm"]) for name, t in timed.items()}
    rate = {name: (2.0 * n**3 if name == "sgemm" else 2.0 * spec.macs) / m / 1e9 for name, m in med.items()}
    return {"layer": layer, "descriptor": spec.descriptor(), "median_ms": {k: v * 1e3 for k, v in med.items()},
            "gflops": rate, "pct_sgemm": {k: 100 * v / rate["sgemm"] for k, v in rate.items()},
            "im2col_over_gemms": med["im2col"] / med["gemms"]}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--layers", default="a,b,c,d")
    p.add_argument("--repeats", type=int, default=9)
    p.add_argument("--gap", type=float, default=0.2)
    p.add_argument("--n", type=int, default=2048, help="sgemm size")
    p.add_argument("--single-core", action="store_true", help="re-run pinned to one CPU, every pool at 1 thread")
    p.add_argument("--json", metavar="PATH")
    args = p.parse_args(argv)
    if args.single_core and not bench.single_core():
        bench.pin_to_one_core()
    rows = []
    for layer in args.layers.split(","):
        row = measure(layer, args.repeats, args.gap, args.n)
        rows.append(row)
        pct = row["pct_sgemm"]
        print(f"{layer}: sgemm {row['gflops']['sgemm']:.0f} GFLOP/s | % of it: gemms {pct['gemms']:.0f}, "
              f"im2col {pct['im2col']:.0f} | im2col / gemms {row['im2col_over_gemms']:.2f}",
              flush=True)
    blas = bench.blas_info()
    print(f"BLAS {blas['internal_api']} {blas['version']} kernel={blas['architecture']} threads={blas['num_threads']} "
          f"OPENBLAS_CORETYPE={blas['OPENBLAS_CORETYPE']} single_core={bench.single_core()}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"rows": rows, "blas": blas, "machine": bench.machine_info(), "single_core": bench.single_core(),
                       "repeats": args.repeats, "gap_s": args.gap}, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
