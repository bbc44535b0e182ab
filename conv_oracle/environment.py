"""What a run depends on: versions, oracle precision settings, BLAS, machine.

Recorded in every report and printed in the pytest header and by ``conv-oracle env``.
"""
from __future__ import annotations

import os
import platform
import sys


def blas() -> list[dict]:
    from threadpoolctl import threadpool_info

    keep = ("user_api", "internal_api", "prefix", "version", "num_threads", "architecture", "threading_layer")
    found = [{k: info.get(k) for k in keep if k in info} for info in threadpool_info()]
    return sorted(found, key=lambda b: (str(b.get("internal_api")), str(b.get("prefix"))))  # load order varies


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
        "torch_oracle": torch_oracle.settings(),
        "jax_oracle": jax_settings,
    }


def one_line(env: dict) -> str:
    t, j = env["torch_oracle"], env.get("jax_oracle") or {}
    kernels = ", ".join(sorted(f"{b.get('internal_api')}:{b.get('architecture', '?')}" for b in env["blas"])) or "none"
    return (f"torch {t['torch']} (float64, tf32 off, matmul precision {t['float32_matmul_precision']}); "
            f"jax {j.get('jax', '?')} (x64={j.get('jax_enable_x64', '?')}, precision {j.get('precision', '?')}); "
            f"numpy {env['numpy']}; BLAS {kernels}; OPENBLAS_CORETYPE={env['blas_env']['OPENBLAS_CORETYPE']}")
