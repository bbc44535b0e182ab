"""JAX oracle: ``lax.conv_general_dilated`` (precision=HIGHEST, x64) and ``jax.vjp``.

Compilation costs 0.3-0.5 s per new shape, so every case is first rewritten as an
equivalent *canonical* problem whose shapes fall into a few buckets:

* padding becomes explicit zeros around x;
* dilation becomes a zero-inserted kernel;
* groups become a block-diagonal dense kernel;
* stride becomes a stride-1 output that is subsampled (and a zero-inserted cotangent);
* N, channels, kernel and image are zero-padded up to bucket sizes, bottom/right only.

Each rewrite only adds exact zeros, so the cropped result is the same mathematical
quantity; the JAX answer is therefore also a metamorphic check of the torch oracle.
Compiled functions are kept in memory and in JAX's persistent compilation cache.
"""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..spec import ConvSpec

CACHE_DIR = Path(os.environ.get("CONV_ORACLE_CACHE", Path.cwd() / ".cache")) / "jax"


def _setup():
    import jax

    jax.config.update("jax_enable_x64", True)
    jax.config.update("jax_default_matmul_precision", "highest")
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(CACHE_DIR))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return jax


def settings() -> dict:
    jax = _setup()
    return {
        "jax": jax.__version__,
        "jax_enable_x64": bool(jax.config.jax_enable_x64),
        "precision": "HIGHEST",
        "dtype": "float64",
        "backend": jax.default_backend(),
        "canonical_form": "explicit pad, zero-inserted kernel, block-diagonal groups, stride-1 then subsample",
    }


def _bucket(n: int) -> int:
    """Next power of two: few distinct shapes, at most 2x the work per dimension."""
    return 1 << max(0, (n - 1).bit_length())


@lru_cache(maxsize=None)
def _compiled(key):
    jax = _setup()
    from jax import lax

    def conv(x, w, b):
        y = lax.conv_general_dilated(x, w, (1, 1), [(0, 0), (0, 0)], precision=lax.Precision.HIGHEST)
        return y + b[None, :, None, None]

    def fwd_bwd(x, w, b, gy):
        y, pullback = jax.vjp(conv, x, w, b)
        return (y, *pullback(gy))

    return jax.jit(fwd_bwd)


def reference(spec: ConvSpec, x, w, b, gy) -> dict:
    """y, dx, dw (and db) in float64 for float64 NCHW/OIHW inputs."""
    n, c, h, wd = spec.n, spec.c, spec.h, spec.w
    f, g = spec.f, spec.groups
    cg, fg = c // g, f // g
    (pt, pb), (pl, pr) = spec.padding
    (sh, sw), (dh, dw) = spec.stride, spec.dilation
    hp, wp = h + pt + pb, wd + pl + pr
    khe, kwe = dh * (spec.kh - 1) + 1, dw * (spec.kw - 1) + 1
    hf, wf = hp - khe + 1, wp - kwe + 1                       # stride-1 output size
    ho, wo = spec.out_hw

    nb, cfb = _bucket(n), _bucket(max(c, f))
    kb = _bucket(max(khe, kwe))
    sb = _bucket(max(hp + kb - khe, wp + kb - kwe))
    ob = sb - kb + 1                                          # bucketed output size

    xb = np.zeros((nb, cfb, sb, sb))                          # padded input, top-left
    xb[:n, :c, pt:pt + h, pl:pl + wd] = x
    wb = np.zeros((cfb, cfb, kb, kb))                         # dilated, block-diagonal kernel
    for k in range(g):
        wb[k * fg:(k + 1) * fg, k * cg:(k + 1) * cg, :khe:dh, :kwe:dw] = w[k * fg:(k + 1) * fg]
    bb = np.zeros(cfb)
    if b is not None:
        bb[:f] = b
    gyb = np.zeros((nb, cfb, ob, ob))                         # zero-inserted cotangent
    gyb[:n, :f, :hf:sh, :wf:sw] = gy

    yb, dxb, dwb, dbb = (np.asarray(a) for a in _compiled((nb, cfb, kb, sb))(xb, wb, bb, gyb))
    dw_out = np.empty(spec.w_shape)
    for k in range(g):
        dw_out[k * fg:(k + 1) * fg] = dwb[k * fg:(k + 1) * fg, k * cg:(k + 1) * cg, :khe:dh, :kwe:dw]
    out = {
        "y": np.ascontiguousarray(yb[:n, :f, :hf:sh, :wf:sw][:, :, :ho, :wo]),
        "dx": np.ascontiguousarray(dxb[:n, :c, pt:pt + h, pl:pl + wd]),
        "dw": dw_out,
    }
    if b is not None:
        out["db"] = dbb[:f].copy()
    return out
