"""The shared timing core: plugins against torch and JAX, interleaved, in one process.

Principle 6 of the project: performance is measured, never asserted in a unit test.
Every number quoted comes from one run that also records what ran it:

* the candidates (a plugin, ``torch.nn.functional.conv2d``, jitted
  ``jax.lax.conv_general_dilated`` at ``Precision.HIGHEST``) are timed round-robin, one call
  each per repeat, with a short sleep between calls (``gap``) because a BLAS/OpenMP
  thread pool keeps spinning ~0.1 s after a call and starves the next library on 2 cores;
* medians of >= 7 repeats, with min and max as the spread;
* the numpy float32 GEMM rate (``sgemm_peak``) is measured in the same run, before and
  after, and a GEMM of the layer's dtype (n x n, n = ``sgemm_n``) is timed as one more
  candidate in every layer's rounds: "% of GEMM (same rounds)" compares like with like even
  when the host's load drifts during the run;
* the BLAS library and the kernel it picked (threadpoolctl) and ``OPENBLAS_CORETYPE`` /
  ``OPENBLAS_L2_SIZE`` are recorded: those variables force older kernels (about half the
  sgemm rate), so a number without them is meaningless.

Run it under the team's CPU lock, exclusively, so that nothing else runs while it times::

    flock -x /tmp/conv-oracle-cpu.lock .venv/bin/python -m conv_oracle.bench --impl im2col

This module only produces data (a JSON-serialisable dict, and a plain text table);
rendering the timing report is left to the report.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from typing import Callable

import numpy as np

from .plugin import ConvPlugin, NotSupported
from .spec import DTYPES, ConvSpec

# The standard layers of issue 3: (N, C, H=W, F, k, stride, pad), float32, with bias.
LAYERS: dict[str, ConvSpec] = {
    "a": ConvSpec.make(8, 64, 56, 56, 64, 3, stride=1, padding=1),
    "b": ConvSpec.make(8, 128, 28, 28, 128, 3, stride=1, padding=1),
    "c": ConvSpec.make(8, 256, 14, 14, 256, 3, stride=1, padding=1),
    "d": ConvSpec.make(8, 64, 56, 56, 256, 1, stride=1, padding=0),
    "e": ConvSpec.make(8, 3, 224, 224, 64, 7, stride=2, padding=3),
    "f": ConvSpec.make(4, 32, 64, 64, 32, 11, stride=1, padding=5),
    "g": ConvSpec.make(1, 16, 128, 128, 16, 31, stride=1, padding=15),
    "h": ConvSpec.make(32, 1, 28, 28, 8, 5, stride=1, padding=0),
}
BASELINES = ("torch", "jax")
MODES = ("fwd", "fwdbwd")
LOCK_PATH = "/tmp/conv-oracle-cpu.lock"    # held exclusively (flock -x) by a timed run, shared by tests


# ---- what ran ---------------------------------------------------------------------------------
def blas_info() -> dict:
    """numpy's BLAS as threadpoolctl sees it (library, kernel, threads), the environment
    variables that change its kernel, and every other thread pool loaded in the process."""
    from threadpoolctl import threadpool_info

    from .environment import blas as thread_pools

    blas = [p for p in threadpool_info() if p.get("user_api") == "blas"]
    numpy_blas = next((p for p in blas if "numpy" in p.get("filepath", "")), blas[0] if blas else {})
    return {
        "library": numpy_blas.get("prefix"),
        "internal_api": numpy_blas.get("internal_api"),
        "architecture": numpy_blas.get("architecture"),   # the kernel OpenBLAS picked
        "num_threads": numpy_blas.get("num_threads"),
        "version": numpy_blas.get("version"),
        "threading_layer": numpy_blas.get("threading_layer"),
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
        "OPENBLAS_L2_SIZE": os.environ.get("OPENBLAS_L2_SIZE"),
        "pools": thread_pools(),
    }


def sgemm_peak(n: int = 2048, repeats: int = 7) -> float:
    """Median GFLOP/s of numpy's float32 ``a @ b`` for n x n operands (2 n^3 flops), calls
    back to back after one warm-up (thread pool start, page faults)."""
    run = gemm_candidate(n, "float32")
    run()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    return 2.0 * n**3 / statistics.median(times) / 1e9


def gemm_candidate(n: int, dtype: str = "float32") -> Callable[[], object]:
    """numpy's ``a @ b`` for n x n operands of ``dtype`` (2 n^3 flops), as a candidate: timed in
    the same rounds as a layer's candidates, it is the GEMM rate under the same machine load."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n)).astype(dtype)
    b = rng.standard_normal((n, n)).astype(dtype)
    out = np.empty((n, n), dtype=dtype)
    return lambda: np.matmul(a, b, out=out)


GEMM = "<numpy gemm reference>"   # the GEMM candidate's key in time_interleaved; no plugin is named so


def machine_info() -> dict:
    return {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(), "python": platform.python_version(),
            "affinity": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None}


def library_info() -> dict:
    import torch

    info = {"numpy": np.__version__, "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
            "torch_interop_threads": torch.get_num_interop_threads()}
    try:
        jax = _jax()
        info.update(jax=jax.__version__, jax_backend=jax.default_backend(),
                    jax_devices=[str(d) for d in jax.devices()], XLA_FLAGS=os.environ.get("XLA_FLAGS"))
    except Exception as exc:  # JAX missing or broken: record it, time the rest
        info["jax_error"] = f"{type(exc).__name__}: {exc}"
    return info


# ---- the candidates ---------------------------------------------------------------------------
def make_arrays(spec: ConvSpec, seed: int = 0):
    """x, w, b (None without bias), gy: standard normal in ``spec.dtype``."""
    rng = np.random.default_rng(seed)
    dt = np.dtype(spec.dtype)
    x = rng.standard_normal(spec.x_shape).astype(dt)
    w = rng.standard_normal(spec.w_shape).astype(dt)
    b = rng.standard_normal(spec.b_shape).astype(dt) if spec.bias else None
    gy = rng.standard_normal(spec.y_shape).astype(dt)
    return x, w, b, gy


def flops(spec: ConvSpec, backward: bool = False) -> float:
    """2 flops per multiply-add; forward+backward counts the forward, dx and dw (3x)."""
    return 2.0 * spec.macs * (3 if backward else 1)


def torch_candidate(spec: ConvSpec, backward: bool = False) -> Callable[[], object]:
    """``F.conv2d`` on the prepared arrays; with ``backward``, forward plus autograd of x, w, b."""
    import torch
    import torch.nn.functional as F

    x, w, b, gy = (None if a is None else torch.from_numpy(a) for a in make_arrays(spec))
    (pt, pb), (pl, pr) = spec.padding
    symmetric = pt == pb and pl == pr
    kwargs = dict(stride=spec.stride, dilation=spec.dilation, groups=spec.groups,
                  padding=(pt, pl) if symmetric else 0)

    def conv(x, w, b):
        if not symmetric:  # asymmetric padding: pad first, as the spec defines it
            x = F.pad(x, (pl, pr, pt, pb))
        return F.conv2d(x, w, b, **kwargs)

    if not backward:
        def run():
            with torch.no_grad():
                return conv(x, w, b)
        return run

    leaves = [t.requires_grad_() for t in (x, w, b) if t is not None]

    def run_backward():
        y = conv(x, w, b)
        return torch.autograd.grad(y, leaves, gy)
    return run_backward


def _jax():
    import jax

    jax.config.update("jax_enable_x64", True)
    return jax


def jax_candidate(spec: ConvSpec, backward: bool = False) -> Callable[[], object]:
    """Jitted ``lax.conv_general_dilated`` (NCHW/OIHW, Precision.HIGHEST), compiled and warmed up;
    with ``backward``, forward plus ``jax.vjp`` for x, w, b in one jitted function."""
    jax = _jax()
    from jax import lax

    x, w, b, gy = (None if a is None else jax.device_put(a) for a in make_arrays(spec))

    def conv(x, w, b):
        y = lax.conv_general_dilated(x, w, window_strides=spec.stride, padding=list(spec.padding),
                                     rhs_dilation=spec.dilation, feature_group_count=spec.groups,
                                     dimension_numbers=("NCHW", "OIHW", "NCHW"),
                                     precision=lax.Precision.HIGHEST)
        return y if b is None else y + b[None, :, None, None]

    if backward:
        def fwd_bwd(x, w, b, gy):
            y, pullback = jax.vjp(conv, x, w, b)
            return (y, *pullback(gy))
        fn = jax.jit(fwd_bwd)
        args = (x, w, b, gy)
    else:
        fn = jax.jit(conv)
        args = (x, w, b)

    def run():
        return jax.block_until_ready(fn(*args))
    run()  # compile
    run()  # warm
    return run


def plugin_candidate(plugin: ConvPlugin | str, spec: ConvSpec, backward: bool = False) -> Callable[[], object]:
    """A plugin (instance, class or registered name) on the prepared arrays; with ``backward``,
    ``forward`` then ``backward`` (the same work torch autograd does). Raises NotSupported
    before timing when the plugin declines ``spec``."""
    plugin = _plugin(plugin)
    plugin.check_supported(spec, backward=backward)
    x, w, b, gy = make_arrays(spec)
    if plugin.layout == "NHWC":
        x, gy = (np.ascontiguousarray(a.transpose(0, 2, 3, 1)) for a in (x, gy))
        w = np.ascontiguousarray(w.transpose(2, 3, 1, 0))

    if not backward:
        return lambda: plugin.forward(x, w, b, spec)

    def run():
        y = plugin.forward(x, w, b, spec)
        return y, plugin.backward(x, w, b, gy, spec)
    return run


def _plugin(plugin) -> ConvPlugin:
    if isinstance(plugin, str):
        from .registry import load
        return load(plugin)
    if isinstance(plugin, type):
        return plugin()
    return plugin


# ---- timing -----------------------------------------------------------------------------------
def time_interleaved(candidates: dict[str, Callable[[], object]], repeats: int = 7, warmup: int = 1,
                     gap: float = 0.2, settle: int = 1) -> dict[str, dict[str, list[float]]]:
    """Seconds per call of each candidate: ``{name: {"warm": [...], "after_gap": [...]}}``.

    Each repeat calls every candidate in turn (the starting candidate rotates, so none always
    follows the same neighbour). Before a candidate's turn the process sleeps ``gap`` seconds,
    so the previous library's spinning threads have gone quiet; then it makes ``settle``
    calls, the first of them timed as ``after_gap``, and times one more call as ``warm``.

    Why both: on this 2-vCPU VM the first call after any idle gap is slower for every
    library alike (sgemm 2048^3: +22 %, torch layer a: +20 %, im2col layer a: +40-80 %;
    not page faults, measured 0 minor faults per call), while the sgemm peak and every
    GFLOP/s rate describe back-to-back calls. ``warm`` is what the medians and ratios use;
    ``after_gap`` is kept so the cold cost stays visible."""
    names = list(candidates)
    for _ in range(warmup):
        for name in names:
            time.sleep(gap)
            candidates[name]()
    times: dict[str, dict[str, list[float]]] = {name: {"warm": [], "after_gap": []} for name in names}
    for r in range(repeats):
        for name in names[r % len(names):] + names[:r % len(names)]:
            time.sleep(gap)
            fn = candidates[name]
            for call in range(settle + 1):
                t0 = time.perf_counter()
                fn()
                elapsed = time.perf_counter() - t0
                if call == 0:
                    times[name]["after_gap"].append(elapsed)
            times[name]["warm"].append(elapsed)
    return times


def bench_layer(spec: ConvSpec, impls: list, backward: bool = False, repeats: int = 7, *,
                warmup: int = 1, gap: float = 0.2, settle: int = 1, peak: float | None = None,
                gemm_n: int | None = None, baselines: tuple[str, ...] = BASELINES) -> list[dict]:
    """One row per candidate (baselines first, then ``impls``: registered names, or plugin
    objects labelled by their ``name``): median/min/max seconds,
    GFLOP/s, time ratios to torch and JAX (>1: slower than the baseline), % of ``peak``.
    A plugin that declines the spec gets ``status="unsupported"``; one that fails gets
    ``status="error"``; neither stops the others."""
    makers = {"torch": lambda: torch_candidate(spec, backward), "jax": lambda: jax_candidate(spec, backward)}
    for impl in impls:
        if not isinstance(impl, str):  # a plugin object or class: label it by its name
            plugin = _plugin(impl)
            makers[plugin.name] = lambda plugin=plugin: plugin_candidate(plugin, spec, backward)
    impls = [impl if isinstance(impl, str) else _plugin(impl).name for impl in impls]
    status: dict[str, str] = {}
    candidates: dict[str, Callable] = {}
    for name in [*baselines, *impls]:
        try:
            fn = makers[name]() if name in makers else plugin_candidate(name, spec, backward)
            fn()  # first call outside the timed loop: a plugin may decline only here
            candidates[name] = fn
            status[name] = "ok"
        except NotSupported as exc:
            status[name] = f"unsupported: {exc}"
        except Exception as exc:
            status[name] = f"error: {type(exc).__name__}: {exc}"
    if candidates and gemm_n:
        candidates[GEMM] = gemm_candidate(gemm_n, spec.dtype)
    timed = time_interleaved(candidates, repeats=repeats, warmup=warmup, gap=gap, settle=settle) if candidates else {}
    times = {name: t["warm"] for name, t in timed.items()}
    work = flops(spec, backward)
    medians = {name: statistics.median(t) for name, t in times.items()}
    gemm_rate = 2.0 * gemm_n**3 / medians.pop(GEMM) / 1e9 if GEMM in medians else None
    rows = []
    for name in [*baselines, *impls]:
        row = {"name": name, "layer_spec": spec.descriptor(), "mode": "fwdbwd" if backward else "fwd",
               "dtype": spec.dtype, "status": "ok" if status[name] == "ok" else status[name].split(":")[0],
               "detail": None if status[name] == "ok" else status[name]}
        if name in medians:
            med = medians[name]
            row.update(median_s=med, min_s=min(times[name]), max_s=max(times[name]), times_s=times[name],
                       after_gap_median_s=statistics.median(timed[name]["after_gap"]),
                       after_gap_times_s=timed[name]["after_gap"],
                       gflops=work / med / 1e9,
                       ratio_to_torch=med / medians["torch"] if "torch" in medians else None,
                       ratio_to_jax=med / medians["jax"] if "jax" in medians else None,
                       pct_sgemm_peak=100.0 * work / med / 1e9 / peak if peak else None,
                       gemm_gflops_same_rounds=gemm_rate,
                       pct_gemm_same_rounds=100.0 * work / med / 1e9 / gemm_rate if gemm_rate else None)
        rows.append(row)
    return rows


def run_bench(impls: list[str], layers: list[str], dtypes: list[str], modes: list[str], repeats: int = 7, *,
              warmup: int = 1, gap: float = 0.2, settle: int = 1, sgemm_n: int = 2048, progress=None) -> dict:
    """Every (layer, dtype, mode) with the baselines and ``impls``; JSON-serialisable."""
    blas = blas_info()
    libs = library_info()
    peak = sgemm_peak(sgemm_n, repeats=max(repeats, 3))
    results = []
    for mode in modes:
        for dtype in dtypes:
            for layer in layers:
                spec = LAYERS[layer].replace(dtype=DTYPES.get(dtype, dtype))
                rows = bench_layer(spec, impls, backward=mode == "fwdbwd", repeats=repeats, warmup=warmup,
                                   gap=gap, settle=settle, peak=peak, gemm_n=sgemm_n)
                for row in rows:
                    row["layer"] = layer
                results.extend(rows)
                if progress:
                    progress(rows)
    peak_after = sgemm_peak(sgemm_n, repeats=max(repeats, 3))
    return {"schema": 1, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "repeats": repeats, "warmup": warmup,
            "gap_s": gap, "settle": settle, "sgemm_gflops": peak, "sgemm_gflops_after": peak_after, "sgemm_n": sgemm_n,
            "single_core": single_core(), "blas": blas, "libraries": libs, "machine": machine_info(), "impls": list(impls),
            "layers": {k: LAYERS[k].descriptor() for k in layers}, "results": results}


# ---- one core ----------------------------------------------------------------------------------
SINGLE_CORE_ENV = "CONV_ORACLE_SINGLE_CORE"


def single_core() -> bool:
    """True when this process was started by :func:`pin_to_one_core`."""
    from .config import single_core as set_in_environment

    return set_in_environment()


def pin_to_one_core() -> None:
    """Re-run this same command on one CPU (the last this process may use) with every thread
    pool at one thread: the brief's ``taskset -c 1`` run, the ratio to trust when the two vCPUs
    are time-shared. A re-exec, not an in-process change, because the BLAS and OpenMP pools
    already started keep their threads and their affinity; the CPU set and the variables are
    inherited by the new process before any library starts. No return."""
    cpu = max(os.sched_getaffinity(0))
    env = dict(os.environ, **{SINGLE_CORE_ENV: "1", "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
                              "MKL_NUM_THREADS": "1"})
    os.sched_setaffinity(0, {cpu})
    sys.stdout.flush()
    os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], env)


# ---- command line -----------------------------------------------------------------------------
def format_rows(rows: list[dict]) -> str:
    lines = []
    for r in rows:
        head = f"{r['layer']:>2} {r['dtype']:<7} {r['mode']:<6} {r['name']:<19}"
        if r["status"] != "ok":
            lines.append(f"{head} {r['status']}")
            continue
        rt = f"{r['ratio_to_torch']:.2f}" if r["ratio_to_torch"] is not None else "-"
        rj = f"{r['ratio_to_jax']:.2f}" if r["ratio_to_jax"] is not None else "-"
        pk = f"{r['pct_sgemm_peak']:.0f}%" if r["pct_sgemm_peak"] is not None else "-"
        same = r.get("pct_gemm_same_rounds")
        gm = f"{same:.0f}% of {r['gemm_gflops_same_rounds']:.0f}" if same is not None else "-"
        lines.append(f"{head} {r['median_s'] * 1e3:9.2f} ms [{r['min_s'] * 1e3:.2f}..{r['max_s'] * 1e3:.2f}] "
                     f"{r['gflops']:7.1f} GFLOP/s  x torch {rt:>5}  x jax {rj:>5}  sgemm {pk:>4}  gemm(same rounds) {gm}")
    return "\n".join(lines)


def _split(values: list[str] | None, default: list[str]) -> list[str]:
    if not values:
        return default
    return [v for item in values for v in item.split(",") if v]


def build_parser() -> argparse.ArgumentParser:
    from .arguments import Parser, count

    p = Parser(prog="conv-oracle bench", description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=f"Run under the lock: flock -x {LOCK_PATH} conv-oracle bench ...")
    p.add_argument("--impl", action="append", help="plugin to time against torch and JAX (repeatable; "
                   "default im2col)")
    p.add_argument("--layers", help=f"comma-separated layers from {','.join(LAYERS)} (default a-h)")
    p.add_argument("--dtype", action="append", help="f32 or f64 (repeatable or comma-separated; default f32)")
    p.add_argument("--mode", action="append", help="fwd or fwdbwd (repeatable or comma-separated; default fwd)")
    p.add_argument("--repeats", type=count(1), help="timed calls per candidate (default 7; the median needs >= 7)")
    p.add_argument("--gap", type=float, default=0.2, help="seconds of sleep before each candidate's turn (default 0.2)")
    p.add_argument("--settle", type=int, default=1, help="untimed calls between the gap and the timed call "
                   "(default 1: time warm calls, as the sgemm peak is; 0: time the first call after the gap)")
    size = p.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="seconds: layers c,h, f32 fwd, 3 repeats (CI smoke)")
    size.add_argument("--full", action="store_true", help="all layers, f32 and f64, fwd and fwdbwd")
    p.add_argument("--single-core", action="store_true", help="re-run pinned to one CPU with every thread pool "
                   "at 1 thread (as taskset -c 1): the ratio to trust on a time-shared machine")
    p.add_argument("--json", metavar="PATH", help="write the result as JSON here ('-' for stdout)")
    return p


def settings_from_args(args) -> dict:
    """Layers, dtypes, modes, repeats, gap and sgemm size from parsed options: --quick is
    seconds, --full is everything. ValueError names an unknown layer, dtype or mode."""
    layers = _split([args.layers] if args.layers else None, list(LAYERS))
    dtypes = _split(args.dtype, ["f32"])
    modes = _split(args.mode, ["fwd"])
    repeats, gap, settle, sgemm_n = args.repeats or 7, args.gap, args.settle, 2048
    if args.quick:
        layers = _split([args.layers] if args.layers else None, ["c", "h"])
        repeats, gap, sgemm_n = args.repeats or 3, min(gap, 0.05), 512
    if args.full:
        dtypes = _split(args.dtype, ["f32", "f64"])
        modes = _split(args.mode, list(MODES))
    for name, values, allowed in (("layer", layers, LAYERS), ("dtype", dtypes, ("f32", "f64")),
                                  ("mode", modes, MODES)):
        bad = [v for v in values if v not in allowed]
        if bad:
            raise ValueError(f"unknown {name} {', '.join(bad)}; choose from {', '.join(allowed)}")
    if settle < 0:
        raise ValueError(f"--settle {settle}: give 0 or more calls")
    return dict(layers=layers, dtypes=dtypes, modes=modes, repeats=repeats, gap=gap, settle=settle, sgemm_n=sgemm_n)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = settings_from_args(args)
    except ValueError as exc:
        print(f"conv-oracle bench: {exc}", file=sys.stderr)
        return 2
    if args.single_core and not single_core():
        pin_to_one_core()
    impls = _split(args.impl, ["im2col"])
    to_stdout = args.json == "-"
    log = sys.stderr if to_stdout else sys.stdout

    result = run_bench(impls, settings["layers"], settings["dtypes"], settings["modes"], settings["repeats"],
                       gap=settings["gap"], settle=settings["settle"], sgemm_n=settings["sgemm_n"],
                       progress=lambda rows: print(format_rows(rows), file=log, flush=True))
    b = result["blas"]
    print(f"numpy BLAS: {b['internal_api']} {b['version']} kernel={b['architecture']} threads={b['num_threads']} "
          f"OPENBLAS_CORETYPE={b['OPENBLAS_CORETYPE']} OPENBLAS_L2_SIZE={b['OPENBLAS_L2_SIZE']}; "
          f"sgemm {result['sgemm_gflops']:.0f} GFLOP/s (after: {result['sgemm_gflops_after']:.0f}); "
          f"torch {result['libraries']['torch']} x{result['libraries']['torch_threads']} threads, "
          f"jax {result['libraries'].get('jax')}", file=log)
    if args.json:
        text = json.dumps(result, indent=1)
        if to_stdout:
            print(text)
        else:
            with open(args.json, "w") as fh:
                fh.write(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
