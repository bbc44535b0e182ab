"""What a run depends on: versions, oracle precision settings, BLAS, machine.

Recorded in every report and printed in the pytest header and by ``conv-oracle env``.
Fast paths dispatch on the CPU (oneDNN picks an AVX-512 BF16 or AMX kernel when it can, and
with it a different accumulation), so the record names the CPU, its instruction-set flags
and the ISA oneDNN reports it runs on.
"""
from __future__ import annotations

import os
import platform
import sys
import tempfile
from functools import lru_cache

# /proc/cpuinfo flags that decide which convolution and GEMM kernels run, and in what precision
ISA_FLAGS = ("sse4_2", "avx", "avx2", "fma", "f16c", "avx_vnni", "avx512f", "avx512bw", "avx512vl",
             "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16", "amx_fp16", "amx_int8",
             "avx_ne_convert", "avx_vnni_int8", "neon", "asimd", "fphp", "asimdhp", "bf16", "sve", "sve2")


@lru_cache(maxsize=None)
def cpu() -> dict:
    """CPU model and the ISA flags of :data:`ISA_FLAGS` it has (Linux /proc/cpuinfo; elsewhere
    only ``platform.processor()``)."""
    fields = {}
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if not key:
                    if fields:
                        break          # the first processor's block is enough
                    continue
                fields.setdefault(key, value.strip())
    except OSError:
        pass
    flags = set((fields.get("flags") or fields.get("Features") or "").split())
    return {
        "model": fields.get("model name") or fields.get("Hardware") or platform.processor() or "unknown",
        "vendor": fields.get("vendor_id") or fields.get("CPU implementer"),
        "family": fields.get("cpu family"),
        "machine": platform.machine(),
        "isa": [f for f in ISA_FLAGS if f in flags],
    }


@lru_cache(maxsize=None)
def onednn() -> dict:
    """torch's CPU capability and oneDNN's own report of its ISA, with the kernels it picks for
    a small float32 and bfloat16 convolution (from ONEDNN_VERBOSE output, captured from fd 1)."""
    import torch
    import torch.nn.functional as F

    config = torch.__config__.show()
    version = next((line.split("Intel(R) MKL-DNN")[-1].strip(" -") for line in config.splitlines()
                    if "MKL-DNN" in line or "oneDNN" in line), None)
    info = {"version": version, "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "mkldnn_available": torch.backends.mkldnn.is_available(), "isa": None, "kernels": {}}
    if not info["mkldnn_available"]:
        return info
    sys.stdout.flush()
    with tempfile.TemporaryFile() as tmp:
        saved = os.dup(1)
        os.dup2(tmp.fileno(), 1)
        try:
            with torch.backends.mkldnn.verbose(torch.backends.mkldnn.VERBOSE_ON):
                for dtype in (torch.float32, torch.bfloat16, torch.float16):
                    x = torch.ones(1, 16, 16, 16, dtype=dtype)
                    F.conv2d(x, torch.ones(16, 16, 3, 3, dtype=dtype))
        except RuntimeError:
            pass
        finally:
            os.dup2(saved, 1)
            os.close(saved)
        tmp.seek(0)
        lines = tmp.read().decode(errors="replace").splitlines()
    for line in lines:
        parts = line.split(",")
        if ",info,cpu,isa:" in line:
            info["isa"] = line.split("isa:", 1)[1]
        elif ",primitive,exec,cpu,convolution," in line and len(parts) > 6:
            src = next((p for p in parts if p.startswith("src:")), "")
            dtype = src.split(":")[1].split()[0] if ":" in src else "?"
            info["kernels"].setdefault(dtype, parts[parts.index("convolution") + 1])
    return info


def blas() -> list[dict]:
    from threadpoolctl import threadpool_info

    keep = ("user_api", "internal_api", "prefix", "version", "num_threads", "architecture", "threading_layer")
    found = [{k: info.get(k) for k in keep if k in info} for info in threadpool_info()]
    return sorted(found, key=lambda b: (str(b.get("internal_api")), str(b.get("prefix"))))  # load order varies


#: environment variables that size the thread pools of the libraries candidates use
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "BLIS_NUM_THREADS",
                    "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "TF_NUM_INTRAOP_THREADS",
                    "TF_NUM_INTEROP_THREADS", "XLA_FLAGS")


def threads() -> dict:
    """The threads this process computes with: torch's intra-op and inter-op threads (when torch
    is imported: a plugin's setup may have set them), every BLAS/OpenMP pool threadpoolctl finds,
    the thread variables set in its environment, and the CPUs it may run on."""
    from threadpoolctl import threadpool_info

    torch = sys.modules.get("torch")
    pools = sorted(({k: p.get(k) for k in ("user_api", "internal_api", "prefix", "num_threads")}
                    for p in threadpool_info()), key=lambda p: (str(p["internal_api"]), str(p["prefix"])))
    return {"cpus": len(os.sched_getaffinity(0)),
            "torch": {"intra_op": torch.get_num_threads(), "inter_op": torch.get_num_interop_threads()}
            if torch is not None and hasattr(torch, "get_num_threads") else None,
            "pools": pools,
            "variables": {k: os.environ[k] for k in THREAD_VARIABLES if k in os.environ}}


def thread_environment(recorded: dict, *, torch: bool) -> dict:
    """Environment variables that give a fresh process the threads of ``recorded`` (:func:`threads`
    of the process that ran a case), set before any library loads: each pool's count under its
    library's variable, OMP_NUM_THREADS from torch's intra-op threads when ``torch`` (torch sizes
    its pool from it), the recorded variables themselves otherwise."""
    out = dict(recorded.get("variables") or {})
    for pool in recorded.get("pools") or []:
        variable = {"openblas": "OPENBLAS_NUM_THREADS", "mkl": "MKL_NUM_THREADS", "blis": "BLIS_NUM_THREADS",
                    "openmp": "OMP_NUM_THREADS"}.get(str(pool.get("internal_api")))
        if variable and pool.get("num_threads"):
            out[variable] = str(pool["num_threads"])
    if torch and recorded.get("torch"):
        out["OMP_NUM_THREADS"] = str(recorded["torch"]["intra_op"])
    return out


def describe(jax_settings: dict | None = None) -> dict:
    """Everything but the JAX side, which lives in its worker (pass its settings in)."""
    import hypothesis
    import numpy

    from .oracles import torch_oracle

    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpus": len(os.sched_getaffinity(0)),
        "numpy": numpy.__version__,
        "hypothesis": hypothesis.__version__,
        "blas": blas(),
        "blas_env": {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS",
                                                     "OMP_NUM_THREADS")},
        "cpu": cpu(),
        "onednn": onednn(),
        "torch_oracle": torch_oracle.settings(),
        "jax_oracle": jax_settings,
    }


def one_line(env: dict) -> str:
    t, j = env["torch_oracle"], env.get("jax_oracle") or {}
    kernels = ", ".join(sorted(f"{b.get('internal_api')}:{b.get('architecture', '?')}" for b in env["blas"])) or "none"
    c, d = env.get("cpu") or {}, env.get("onednn") or {}
    machine = (f"CPU {c.get('model', '?')} [{' '.join(c.get('isa', []))}]; "
               f"oneDNN {d.get('version', '?')} isa {d.get('isa') or '?'} (torch capability {d.get('cpu_capability', '?')}); ")
    return machine + (f"torch {t['torch']} (float64, tf32 off, matmul precision {t['float32_matmul_precision']}); "
            f"jax {j.get('jax', '?')} (x64={j.get('jax_enable_x64', '?')}, precision {j.get('precision', '?')}); "
            f"numpy {env['numpy']}; BLAS {kernels}; OPENBLAS_CORETYPE={env['blas_env']['OPENBLAS_CORETYPE']}")
