"""Crossover table: FFT against im2col, Winograd and torch as the kernel grows.

N=4, C=F=32, 64x64, 'same' padding, float32 forward, k = 3, 5, ..., 31. Every candidate is
timed with the shared core (:func:`conv_oracle.bench.time_interleaved`: interleaved,
``gap`` seconds before each candidate's turn, ``settle`` untimed calls, median of ``repeats``
warm calls); a plugin that declines a kernel size
(NotSupported, e.g. Winograd beyond its tile) is recorded as skipped. JSON-serialisable;
the timing report plots it.

Run under the team's lock::

    flock /tmp/conv-oracle-bench.lock .venv/bin/python -m conv_oracle.studies.crossover --json out.json
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

from ..bench import blas_info, jax_candidate, library_info, plugin_candidate, time_interleaved, torch_candidate
from ..plugin import NotSupported
from ..spec import DTYPES, ConvSpec

IMPLS = ("fft", "im2col", "winograd-f2", "winograd-f4", "winograd-f6")
KERNELS = tuple(range(3, 32, 2))


def layer(k: int, dtype: str = "float32", backward: bool = False) -> ConvSpec:
    return ConvSpec.make(4, 32, 64, 64, 32, k, padding="same", dtype=dtype)


def crossover(kernels=KERNELS, impls=IMPLS, *, dtype: str = "float32", backward: bool = False,
              repeats: int = 7, gap: float = 0.2, settle: int = 1, jax: bool = False, progress=None) -> dict:
    rows = []
    for k in kernels:
        spec = layer(k, DTYPES.get(dtype, dtype))
        candidates, skipped = {"torch": torch_candidate(spec, backward)}, {}
        if jax:
            candidates["jax"] = jax_candidate(spec, backward)
        for name in impls:
            try:
                fn = plugin_candidate(name, spec, backward)
                fn()                      # a plugin may decline only on its first call
                candidates[name] = fn
            except NotSupported as exc:
                skipped[name] = f"NotSupported: {exc}"
            except Exception as exc:      # a broken or missing plugin must not stop the table
                skipped[name] = f"{type(exc).__name__}: {exc}"
        times = {name: t["warm"] for name, t in
                 time_interleaved(candidates, repeats=repeats, gap=gap, settle=settle).items()}
        med = {name: statistics.median(t) for name, t in times.items()}
        row = {"k": k, "descriptor": spec.descriptor(), "median_ms": {n: m * 1e3 for n, m in med.items()},
               "min_ms": {n: min(t) * 1e3 for n, t in times.items()},
               "max_ms": {n: max(t) * 1e3 for n, t in times.items()},
               "ratio_to_torch": {n: m / med["torch"] for n, m in med.items()},
               "fastest": min(med, key=med.get), "skipped": skipped}
        rows.append(row)
        if progress:
            progress(row)
    return {"study": "fft-crossover", "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "mode": "fwdbwd" if backward else "fwd", "dtype": dtype, "repeats": repeats, "gap_s": gap,
            "settle": settle, "template": "n4c32h64w64f32 k x k, same padding", "blas": blas_info(), "libraries": library_info(),
            "rows": rows}


def format_row(row: dict, names) -> str:
    cells = [f"{row['median_ms'][n]:8.2f}" if n in row["median_ms"] else f"{'-':>8}" for n in names]
    return f"k={row['k']:2d} " + " ".join(cells) + f"   fastest {row['fastest']}"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--kernels", default=",".join(map(str, KERNELS)), help="comma-separated kernel sizes")
    p.add_argument("--impl", action="append", help=f"plugins (default {','.join(IMPLS)})")
    p.add_argument("--dtype", default="f32")
    p.add_argument("--backward", action="store_true", help="forward + backward")
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--jax", action="store_true", help="also time jitted JAX")
    p.add_argument("--json", metavar="PATH")
    args = p.parse_args(argv)
    impls = [n for item in (args.impl or [",".join(IMPLS)]) for n in item.split(",") if n]
    names = ["torch"] + (["jax"] if args.jax else []) + impls
    print("median ms: " + " ".join(f"{n:>8.8}" for n in names), flush=True)
    result = crossover([int(k) for k in args.kernels.split(",")], impls, dtype=args.dtype, backward=args.backward,
                       repeats=args.repeats, jax=args.jax,
                       progress=lambda row: print(format_row(row, names), flush=True))
    b = result["blas"]
    print(f"numpy BLAS: {b['internal_api']} {b['version']} kernel={b['architecture']} threads={b['num_threads']} "
          f"OPENBLAS_CORETYPE={b['OPENBLAS_CORETYPE']}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(result, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
