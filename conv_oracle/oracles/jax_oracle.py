"""JAX oracle: ``lax.conv_general_dilated`` (precision=HIGHEST, x64) and ``jax.vjp``.

Compilation costs 0.15-0.3 s per new shape (fwd + vjp: three convolutions, which XLA's CPU
backend emits as loops for float64, so its optimisation level matters: level 0 compiles ~1.7x
faster but runs 18-40x slower), so every case is first rewritten as an equivalent *canonical*
problem whose shapes fall into a few buckets:

* padding becomes explicit zeros around x;
* dilation becomes a polyphase split: each of the dh*dw input phases, stacked along the
  batch, is convolved with the undilated kernel (a zero-inserted kernel costs up to 9x);
* groups become a scan of dense convolutions, one per group; channels are padded per
  group, input and output channels apart;
* stride becomes a stride-1 output that is subsampled (and a zero-inserted cotangent);
* N, channels, kernel and image are zero-padded up to bucket sizes, bottom/right only
  (large problems, like the realistic layers, to finer buckets; see :func:`buckets`);
  groups too, with whole zero groups appended.

Each rewrite only adds exact zeros, so the cropped result is the same mathematical
quantity; the JAX answer is therefore also a metamorphic check of the torch oracle.
The one exception is non-finite input: 0 * Inf = NaN spreads from the added zeros, so
cases with NaN/Inf inputs are judged by the torch oracle alone.
Compiled functions are kept in memory and in JAX's persistent compilation cache.
"""
from __future__ import annotations

from contextlib import nullcontext
from functools import lru_cache

import numpy as np

from .. import config
from ..spec import ConvSpec

CACHE_DIR = config.cache_dir() / "jax"
# Entered around each compilation (or load from the persistent cache): the worker process sets
# one that lets XLA's compiler use every CPU meanwhile (see worker.py).
compile_context = nullcontext


def _setup():
    import jax

    jax.config.update("jax_enable_x64", True)
    jax.config.update("jax_default_matmul_precision", "highest")
    # run each call in the calling thread: every answer is read at once, and the hand-off to
    # JAX's dispatch thread cost ~10-30 us a call (a third of a small bucket's time)
    jax.config.update("jax_cpu_enable_async_dispatch", False)
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
        "canonical_form": "explicit pad, polyphase dilation, stride-1 then subsample, zero-padded buckets",
    }


def _bucket(n: int, smallest: int, factor: int) -> int:
    """Smallest ``smallest * factor**k >= n``: coarse buckets, so that a fuzzing run compiles
    a handful of functions (0.15-0.3 s each) instead of one per drawn shape."""
    size = smallest
    while size < n:
        size *= factor
    return size


KERNEL_BUCKETS = (1, 3, 5, 9, 17, 33, 65)  # zero taps appended
FINE_KERNEL_BUCKETS = (1, 3, 5, 7, 9, 17, 33, 65)
# Multiply-adds (fwd) up to which a coarse bucket is used, and up to which any compiled bucket that
# holds a case may serve it: ~0.3 ms a call (fwd + vjp run at ~1.5-2 ns a multiply-add; a call's
# fixed cost is 0.02-0.04 ms), and it serves many small cases with one compilation. A larger problem, like a
# realistic layer (32 channels, 16x16), would cost 100x its own work there; it gets a fine bucket
# (each size at most 2x, the image side 1.5x) or reuses a compiled one that costs at most
# REUSE_FACTOR times that much (a compilation costs more than running a 16x larger problem).
# At 2M, small cases ran in whatever large bucket was compiled first (a 1x1, 4-channel 3x15 case in
# a 16x8-channel 3x3 24x24 bucket: 770x its work); at 200k a run compiles 1.05-1.6x as many buckets
# and the JAX work per case halves (dev, budget 3000: 0.58 -> 0.27 ms).
COARSE_MACS = 200_000
REUSE_FACTOR = 16
_compiled_keys: list[tuple[int, ...]] = []     # in this process, in order


def _fine_side(n: int) -> int:
    """Smallest of 8, 12, 16, 24, 32, 48, ... (steps of 1.5x and 4/3x) that is >= n."""
    size = 8
    while size < n:
        size = size * 3 // 2 if size & (size - 1) == 0 else size * 4 // 3
    return size


def _macs(key) -> int:
    gb, nb, ib, ob, kb, sb = key
    return nb * gb * ib * ob * kb * kb * (sb - kb + 1) ** 2


def buckets(spec: ConvSpec) -> tuple[int, int, int, int, int, int]:
    """(groups, batch, input and output channels per group, kernel side, image side) of the
    canonical problem: a compiled one that holds it at a bounded cost, else a new coarse or
    fine bucket. A fine bucket holds input and output channels apart: a stem (C=3, F=64) or a
    projection (C=65, F=3) in one square bucket would cost 20-40x its own work."""
    g, c_in, c_out = spec.groups, spec.c // spec.groups, spec.f // spec.groups
    (pt, pb), (pl, pr) = spec.padding
    (dh, dw) = spec.dilation
    kernel, rows = max(spec.kh, spec.kw), spec.n * dh * dw      # polyphase: dh*dw phases along the batch
    phase_h, phase_w = -(-(spec.h + pt + pb) // dh), -(-(spec.w + pl + pr) // dw)

    def side(kb):                                             # image side needed with kb-tap kernels
        return max(phase_h + kb - spec.kh, phase_w + kb - spec.kw)

    def holds(key):
        gb, nb, ib, ob, kb, sb = key
        return gb >= g and nb >= rows and ib >= c_in and ob >= c_out and kb >= kernel and sb >= side(kb)

    kb = next(k for k in FINE_KERNEL_BUCKETS if k >= kernel)
    fine = (_bucket(g, 1, 2), _bucket(rows, 1, 2), _bucket(c_in, 1, 2), _bucket(c_out, 1, 2), kb,
            _fine_side(side(kb)))
    limit = max(REUSE_FACTOR * _macs(fine), COARSE_MACS)
    reusable = [key for key in _compiled_keys if holds(key) and _macs(key) <= limit]
    if reusable:
        return min(reusable, key=_macs)
    kb = next(k for k in KERNEL_BUCKETS if k >= kernel)
    # coarse buckets serve many small cases: square in channels and from 4, so that a run compiles a
    # handful (splitting them multiplied the compilations of a short run)
    channels = _bucket(max(c_in, c_out), 4, 4)
    coarse = (g, _bucket(rows, 4, 4), channels, channels, kb, _bucket(side(kb), 8, 2))
    key = coarse if _macs(coarse) <= COARSE_MACS else fine
    _compiled_keys.append(key)
    return key


@lru_cache(maxsize=None)
def _compiled(key: tuple[int, int, int, int, int, int]):
    """fwd + vjp compiled for one bucket ``(groups, batch, in and out channels per group, kernel
    side, image side)``; called as ``f(x, w, b, gy)`` with the float64 arrays of that bucket.
    Groups are a ``lax.scan`` of dense convolutions, one per group: XLA's CPU backend runs a
    grouped convolution as a dense one with a block-diagonal kernel (groups times the work),
    which made a depthwise bucket 10-25x slower than the scan."""
    jax = _setup()
    from jax import lax

    groups, nb, ib, fb, kb, sb = key

    def dense(x, w):                    # x (N, ci, H, W), w (fo, ci, k, k)
        return lax.conv_general_dilated(x, w, (1, 1), [(0, 0), (0, 0)], precision=lax.Precision.HIGHEST)

    def conv(x, w, b):                  # x (N, G*ci, H, W), w (G*fo, ci, k, k), b (G*fo,)
        if groups == 1:
            y = dense(x, w)
        else:
            n, c, h, wd = x.shape
            xg = x.reshape(n, groups, c // groups, h, wd).transpose(1, 0, 2, 3, 4)   # (G, N, ci, H, W)
            wg = w.reshape(groups, w.shape[0] // groups, *w.shape[1:])               # (G, fo, ci, k, k)
            _, yg = lax.scan(lambda carry, pair: (carry, dense(*pair)), 0, (xg, wg))
            y = yg.transpose(1, 0, 2, 3, 4).reshape(n, -1, *yg.shape[-2:])
        return y + b[None, :, None, None]

    def fwd_bwd(x, w, b, gy):
        y, pullback = jax.vjp(conv, x, w, b)
        return (y, *pullback(gy))

    ob = sb - kb + 1
    shapes = [(nb, groups * ib, sb, sb), (groups * fb, ib, kb, kb), (groups * fb,), (nb, groups * fb, ob, ob)]
    with compile_context():
        return jax.jit(fwd_bwd).lower(*(jax.ShapeDtypeStruct(s, np.float64) for s in shapes)).compile()


def reference(spec: ConvSpec, x, w, b, gy, bucket: tuple[int, ...] | None = None) -> dict:
    """y, dx, dw (and db) in float64 for float64 NCHW/OIHW inputs, computed in ``bucket`` (a key
    of :func:`buckets` that holds the case; by default the one :func:`buckets` picks)."""
    n, c, h, wd, f = spec.n, spec.c, spec.h, spec.w, spec.f
    g = spec.groups
    cg, fg = c // g, f // g
    (pt, pb), (pl, pr) = spec.padding
    (sh, sw), (dh, dw) = spec.stride, spec.dilation
    hp, wp = h + pt + pb, wd + pl + pr
    hf, wf = hp - dh * (spec.kh - 1), wp - dw * (spec.kw - 1)   # stride-1 output size
    ho, wo = spec.out_hw

    key = bucket or buckets(spec)
    gb, nb, ib, fb, kb, sb = key                              # ib, fb: in/out channels per group; gb >= g
    ob = sb - kb + 1                                          # bucketed output size
    # Arrays are handled as 5-D views (batch, group, channel in the group, H, W): a group's channels
    # are padded to ib (fb) in place, and the zero groups gb > g follow.
    x5, gy5 = x.reshape(n, g, cg, h, wd), gy.reshape(n, g, fg, ho, wo)
    xb = np.zeros((nb, gb, ib, sb, sb))
    gyb = np.zeros((nb, gb, fb, ob, ob))
    if dh == dw == 1:                                         # one phase: padding and zero insertion in place
        xb[:n, :g, :cg, pt:pt + h, pl:pl + wd] = x5
        gyb[:n, :g, :fg, :hf:sh, :wf:sw] = gy5
        phases = [(0, 0)]
    else:                                                     # polyphase split: phase (a, e) is batch block i
        xp = np.zeros((n, g, cg, hp, wp))                     # explicit zero padding
        xp[..., pt:pt + h, pl:pl + wd] = x5
        gy_full = np.zeros((n, g, fg, hf, wf))                # zero-inserted cotangent (stride)
        gy_full[..., ::sh, ::sw] = gy5
        phases = [(a, e) for a in range(dh) for e in range(dw)]
        for i, (a, e) in enumerate(phases):
            xa, ga = xp[..., a::dh, e::dw], gy_full[..., a::dh, e::dw]
            xb[i * n:(i + 1) * n, :g, :cg, :xa.shape[-2], :xa.shape[-1]] = xa
            gyb[i * n:(i + 1) * n, :g, :fg, :ga.shape[-2], :ga.shape[-1]] = ga
    wb = np.zeros((gb, fb, ib, kb, kb))                       # kernel, zero taps appended
    wb[:g, :fg, :cg, :spec.kh, :spec.kw] = w.reshape(g, fg, cg, spec.kh, spec.kw)
    bb = np.zeros((gb, fb))
    if b is not None:
        bb[:g, :fg] = b.reshape(g, fg)

    answers = _compiled(key)(xb.reshape(nb, gb * ib, sb, sb), wb.reshape(gb * fb, ib, kb, kb),
                             bb.reshape(gb * fb), gyb.reshape(nb, gb * fb, ob, ob))
    yb, dxb, dwb, dbb = (np.asarray(a) for a in answers)
    yb = yb.reshape(nb, gb, fb, ob, ob)[:, :g, :fg]           # the real groups and channels
    dxb = dxb.reshape(nb, gb, ib, sb, sb)[:, :g, :cg]

    if len(phases) == 1:
        y_full, dxp = yb[:n, ..., :hf, :wf], dxb[:n, ..., :hp, :wp]
    else:
        y_full = np.empty((n, g, fg, hf, wf))
        dxp = np.empty((n, g, cg, hp, wp))
        for i, (a, e) in enumerate(phases):
            ya, da = y_full[..., a::dh, e::dw], dxp[..., a::dh, e::dw]
            ya[...] = yb[i * n:(i + 1) * n, ..., :ya.shape[-2], :ya.shape[-1]]
            da[...] = dxb[i * n:(i + 1) * n, ..., :da.shape[-2], :da.shape[-1]]
    out = {   # np.array copies: each answer is a fresh C-contiguous array, not a view of JAX's buffer
        "y": np.array(y_full[..., ::sh, ::sw][..., :ho, :wo]).reshape(n, f, ho, wo),
        "dx": np.array(dxp[..., pt:pt + h, pl:pl + wd]).reshape(n, c, h, wd),
        "dw": np.array(dwb.reshape(gb, fb, ib, kb, kb)[:g, :fg, :cg, :spec.kh, :spec.kw]).reshape(f, cg, spec.kh, spec.kw),
    }
    if b is not None:
        out["db"] = np.array(dbb.reshape(gb, fb)[:g, :fg]).reshape(f)
    return out
