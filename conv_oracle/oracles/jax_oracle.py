"""JAX oracle: ``lax.conv_general_dilated`` (precision=HIGHEST, x64) and ``jax.vjp``.

Compilation costs 0.3-0.5 s per new shape, so every case is first rewritten as an
equivalent *canonical* problem whose shapes fall into a few buckets:

* padding becomes explicit zeros around x;
* dilation becomes a zero-inserted kernel;
* groups stay native (``feature_group_count``); channels are padded per group;
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
        "canonical_form": "explicit pad, zero-inserted kernel, stride-1 then subsample, zero-padded buckets",
    }


def _bucket(n: int, smallest: int, factor: int) -> int:
    """Smallest ``smallest * factor**k >= n``: coarse buckets, so that a fuzzing run compiles
    a handful of functions (0.3-0.5 s each) instead of one per drawn shape."""
    size = smallest
    while size < n:
        size *= factor
    return size


@lru_cache(maxsize=None)
def _compiled(groups: int, shapes):
    """jit(fwd + vjp) for one bucket; ``shapes`` only keys the cache (jit retraces per shape)."""
    jax = _setup()
    from jax import lax

    def conv(x, w, b):
        y = lax.conv_general_dilated(x, w, (1, 1), [(0, 0), (0, 0)], feature_group_count=groups,
                                     precision=lax.Precision.HIGHEST)
        return y + b[None, :, None, None]

    def fwd_bwd(x, w, b, gy):
        y, pullback = jax.vjp(conv, x, w, b)
        return (y, *pullback(gy))

    return jax.jit(fwd_bwd)


def reference(spec: ConvSpec, x, w, b, gy) -> dict:
    """y, dx, dw (and db) in float64 for float64 NCHW/OIHW inputs."""
    n, c, h, wd = spec.n, spec.c, spec.h, spec.w
    g = spec.groups
    cg, fg = c // g, spec.f // g
    (pt, pb), (pl, pr) = spec.padding
    (sh, sw), (dh, dw) = spec.stride, spec.dilation
    hp, wp = h + pt + pb, wd + pl + pr
    khe, kwe = dh * (spec.kh - 1) + 1, dw * (spec.kw - 1) + 1
    hf, wf = hp - khe + 1, wp - kwe + 1                       # stride-1 output size
    ho, wo = spec.out_hw

    nb, cb = _bucket(n, 4, 4), _bucket(max(cg, fg), 4, 4)      # channels per group
    kb = _bucket(max(khe, kwe), 2, 2)
    sb = _bucket(max(hp + kb - khe, wp + kb - kwe), 8, 2)
    ob = sb - kb + 1                                          # bucketed output size

    def per_group(a, size, count):                            # (.., g*count, ..) -> (.., g*size, ..)
        shape = list(a.shape)
        shape[1:2] = [g, count]
        padded = np.zeros(shape[:2] + [size] + shape[3:])
        padded[:, :, :count] = a.reshape(shape)
        return padded.reshape([shape[0], g * size] + shape[3:])

    xb = np.zeros((nb, g * cb, sb, sb))                       # explicit padding, top-left
    xb[:n, :, pt:pt + h, pl:pl + wd] = per_group(x, cb, cg)
    wd_ = np.zeros((g * cb, cb, kb, kb))                      # zero-inserted (dilated) kernel
    wd_[:, :cg, :khe:dh, :kwe:dw] = np.moveaxis(per_group(np.moveaxis(w, 0, 1), cb, fg), 1, 0)
    bb = np.zeros(g * cb)
    if b is not None:
        bb[:] = per_group(b[None], cb, fg)[0]
    gyb = np.zeros((nb, g * cb, ob, ob))                      # zero-inserted cotangent
    gyb[:n, :, :hf:sh, :wf:sw] = per_group(gy, cb, fg)

    key = (nb, cb, kb, sb)
    yb, dxb, dwb, dbb = (np.asarray(a) for a in _compiled(g, key)(xb, wd_, bb, gyb))

    def unpad(a, size, count):                                # inverse of per_group
        shape = list(a.shape)
        return a.reshape(shape[:1] + [g, size] + shape[2:])[:, :, :count].reshape(
            shape[:1] + [g * count] + shape[2:])

    out = {
        "y": np.ascontiguousarray(unpad(yb[:n], cb, fg)[:, :, :hf:sh, :wf:sw][:, :, :ho, :wo]),
        "dx": np.ascontiguousarray(unpad(dxb[:n], cb, cg)[:, :, pt:pt + h, pl:pl + wd]),
        "dw": np.ascontiguousarray(np.moveaxis(unpad(np.moveaxis(dwb, 0, 1), cb, fg), 0, 1)[:, :cg, :khe:dh, :kwe:dw]),
    }
    if b is not None:
        out["db"] = unpad(dbb[None], cb, fg)[0].copy()
    return out
