"""Peak resident memory of one im2col forward, each measurement in a fresh subprocess.

The target of issue 3: the peak RSS of one forward on layer a is at most
1.5 x (input + columns + output). Three runs: the textbook form (one thread, the whole
batch's columns at once), the default (one sample's columns per worker) and a budget. The child process imports numpy, warms up BLAS with a
small GEMM (OpenBLAS allocates its work buffers on the first call), records its RSS, makes
x and w, runs one forward and reads its high-water mark (VmHWM). The growth from the
recorded RSS is what the forward and its arrays cost::

    .venv/bin/python benchmarks/im2col_memory.py [--layer a] [--budget-mib 16] [--json PATH]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys

CHILD = r"""
import json, resource, sys
import numpy as np

def status(key):
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(key)

np.ones((64, 64), np.float32) @ np.ones((64, 64), np.float32)   # BLAS buffers
from conv_oracle.bench import LAYERS
from impls.im2col import Im2colConv, column_bytes
layer, dtype, budget, backward, threads = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "1", int(sys.argv[5])
spec = LAYERS[layer].replace(dtype=dtype)
plugin = Im2colConv(None if budget == "none" else (column_bytes(spec) if budget == "whole" else int(budget)),
                    threads=threads or None)
base = status("VmRSS")
rng = np.random.default_rng(0)
x = rng.standard_normal(spec.x_shape, dtype=spec.dtype)
w = rng.standard_normal(spec.w_shape, dtype=spec.dtype)
b = rng.standard_normal(spec.b_shape, dtype=spec.dtype)
gy = rng.standard_normal(spec.y_shape, dtype=spec.dtype) if backward else None
ready = status("VmRSS")
out = plugin.backward(x, w, b, gy, spec) if backward else plugin.forward(x, w, b, spec)
print(json.dumps({"base_rss": base, "inputs_rss": ready - base, "hwm": status("VmHWM"),
                  "growth": status("VmHWM") - base, "ru_maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                  "x_bytes": x.nbytes, "y_bytes": spec.n * spec.f * spec.out_hw[0] * spec.out_hw[1] * x.itemsize,
                  "column_bytes": column_bytes(spec),
                  "workers_samples_rows": plugin.plan(spec),
                  "chunk_column_bytes": plugin.plan(spec)[0] * column_bytes(spec, plugin.plan(spec)[1])
                                        // spec.out_hw[0] * plugin.plan(spec)[2],
                  "declared_extra": plugin.peak_extra_bytes(spec, backward=backward)}))
"""


def measure(layer: str = "a", dtype: str = "float32", budget: int | str | None = None, backward: bool = False,
            threads: int = 0) -> dict:
    """budget: bytes, None (no budget) or "whole" (the whole batch's columns); threads 0: default."""
    out = subprocess.run([sys.executable, "-c", CHILD, layer, dtype, "none" if budget is None else str(budget),
                          "1" if backward else "0", str(threads)], capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(f"memory child failed:\n{out.stderr}")
    r = json.loads(out.stdout)
    r.update(layer=layer, dtype=dtype, budget=budget, backward=backward, threads=threads)
    # The yardstick: input + columns + output (the whole batch's columns).
    r["yardstick"] = r["x_bytes"] + r["column_bytes"] + r["y_bytes"]
    r["ratio"] = r["growth"] / r["yardstick"]
    return r


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--layer", default="a")
    p.add_argument("--dtype", default="float32")
    p.add_argument("--budget-mib", type=float, default=8.0, help="column budget of the chunked run")
    p.add_argument("--json", metavar="PATH")
    args = p.parse_args(argv)
    rows = [measure(args.layer, args.dtype, "whole", threads=1), measure(args.layer, args.dtype, None),
            measure(args.layer, args.dtype, int(args.budget_mib * 2**20))]
    mib = 2.0**20
    for r in rows:
        mode = {None: "default", "whole": "whole batch"}.get(r["budget"]) or f"budget {r['budget'] / mib:.0f} MiB"
        print(f"layer {r['layer']} {r['dtype']} {mode:>15}: RSS growth {r['growth'] / mib:6.1f} MiB "
              f"(x {r['x_bytes'] / mib:.1f} + columns {r['column_bytes'] / mib:.1f} + y {r['y_bytes'] / mib:.1f} "
              f"= {r['yardstick'] / mib:.1f} MiB; ratio {r['ratio']:.2f}, target <= 1.5); "
              f"columns held {r['chunk_column_bytes'] / mib:.1f} MiB, declared extra {r['declared_extra'] / mib:.1f} MiB")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
