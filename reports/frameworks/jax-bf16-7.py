#!/usr/bin/env python3
"""Reproduction: jax-bf16 n1c1h1w1f1k1x1s1x1p0,0,0,0d1x1g1b0 bf16 (bound)

Candidate jax-bf16: jax.lax.conv_general_dilated under jit, jax.vjp, bfloat16 inputs and outputs, default precision, CPU
Case n1c1h1w1f1k1x1s1x1p0,0,0,0d1x1g1b0 bf16 (forward and backward), failure kind: bound.
Triage: precision property: dw error 5.24e-40 is 10.9x the declared bound (y, dw failing); within the standard model 'float32/flushed' (exact float32 direct sum, subnormals flushed to zero: direct-sum: |err| <= u_s|y| + (1+u_s)gamma_K(u_acc)*sum|x||w| + underflow per element; accumulating in float32 for bf16/f16, else the storage dtype, output rounded to storage, bias before that rounding, subnormals flushed)
Library: jax 0.10.2. Machine: AMD EPYC [sse4_2 avx avx2 fma f16c avx_vnni avx512f avx512bw avx512vl avx512_vnni avx512_bf16], oneDNN ISA Intel AVX-512 with Intel DL Boost and bfloat16 support, Linux-6.18.44-fc-v657-x86_64-with-glibc2.36.
Declared error model: direct-sum: |err| <= u_s|y| + (1+u_s)gamma_K(u_acc)*sum|x||w| + underflow per element; accumulating in float32, output rounded to storage, bias after that rounding; BOUNDS below is that model's bound plus the
float64 reference's own error, per element, as computed by conv-oracle.
The reference is a float64 direct sum over the same (rounded) inputs.

Run: python jax-bf16-7.py   (exit 1 and REPRODUCED when the finding shows, 0 when not, 2 without the
library; needs only jax 0.10.2 and NumPy)
"""
import base64
import os
import sys

import numpy as np

ENVIRONMENT = {'XLA_FLAGS': '--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1', 'JAX_PLATFORMS': 'cpu', 'JAX_ENABLE_X64': '0'}   # the library settings the candidate declares, set before its import
os.environ.update(ENVIRONMENT)


def _array(data, dtype, shape):
    if dtype == "bfloat16":
        import ml_dtypes  # NumPy's bfloat16 (installed with JAX and torch)
        dtype = ml_dtypes.bfloat16
    return np.frombuffer(base64.b64decode("".join(data)), dtype=dtype).reshape(shape).copy()

def run_jax(x, w, b, gy, stride, padding, dilation, groups, *, precision=None):
    """jax.lax.conv_general_dilated(NCHW, OIHW) under jit; gy None: forward only (else jax.vjp)."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    cache = run_jax.__dict__.setdefault("cache", {})
    key = (x.shape, w.shape, b is not None, str(x.dtype), tuple(stride), tuple(map(tuple, padding)),
           tuple(dilation), groups, precision, gy is not None)
    if key not in cache:
        prec = getattr(jax.lax.Precision, precision) if precision else None

        def conv(x, w, b):
            y = jax.lax.conv_general_dilated(x, w, window_strides=tuple(stride), padding=[tuple(p) for p in padding],
                                             rhs_dilation=tuple(dilation), feature_group_count=groups,
                                             dimension_numbers=("NCHW", "OIHW", "NCHW"), precision=prec)
            return y if b is None else y + b[None, :, None, None]

        if gy is None:
            cache[key] = jax.jit(conv)
        else:
            def forward_backward(x, w, b, gy):
                y, pullback = jax.vjp(conv, x, w, b)
                return (y, *pullback(gy))
            cache[key] = jax.jit(forward_backward)
    args = [jnp.asarray(x), jnp.asarray(w), None if b is None else jnp.asarray(b)]
    if gy is None:
        return {"y": np.asarray(cache[key](*args))}
    y, dx, dw, db = cache[key](*args, jnp.asarray(gy))
    out = {"y": np.asarray(y), "dx": np.asarray(dx), "dw": np.asarray(dw)}
    if b is not None:
        out["db"] = np.asarray(db)
    return out


def reference64(x, w, b, gy, stride, padding, dilation, groups):
    """float64 conv2d (cross-correlation, NCHW / OIHW) and its gradients by direct summation,
    with the magnitudes S = the same sums over |x|, |w|, |b|, |gy| (what error bounds scale with)."""
    import numpy as np

    def conv(x, w, b, gy):
        (pt, pb), (pl, pr) = padding
        (sh, sw), (dh, dw_) = stride, dilation
        xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
        n, c, hp, wp = xp.shape
        f, cg, kh, kw = w.shape
        fg = f // groups
        ho, wo = (hp - dh * (kh - 1) - 1) // sh + 1, (wp - dw_ * (kw - 1) - 1) // sw + 1
        y = np.zeros((n, f, ho, wo))
        dxp, dwt = np.zeros_like(xp), np.zeros_like(w)
        for g in range(groups):
            cs, fs = slice(g * cg, (g + 1) * cg), slice(g * fg, (g + 1) * fg)
            for i in range(kh):
                for j in range(kw):
                    rows = slice(i * dh, i * dh + sh * (ho - 1) + 1, sh)
                    cols = slice(j * dw_, j * dw_ + sw * (wo - 1) + 1, sw)
                    tap = xp[:, cs, rows, cols]                                  # (N, C/g, Ho, Wo)
                    y[:, fs] += np.einsum("nchw,fc->nfhw", tap, w[fs, :, i, j])
                    if gy is not None:
                        dxp[:, cs, rows, cols] += np.einsum("nfhw,fc->nchw", gy[:, fs], w[fs, :, i, j])
                        dwt[fs, :, i, j] = np.einsum("nfhw,nchw->fc", gy[:, fs], tap)
        out = {"y": y + (0 if b is None else b[None, :, None, None])}
        if gy is not None:
            out["dx"], out["dw"] = dxp[:, :, pt:pt + x.shape[2], pl:pl + x.shape[3]], dwt
            if b is not None:
                out["db"] = gy.sum(axis=(0, 2, 3))
        return out

    def f64(a):
        return None if a is None else np.asarray(a, dtype=np.float64)

    x, w, b, gy = f64(x), f64(w), f64(b), f64(gy)
    truth = conv(x, w, b, gy)
    with np.errstate(invalid="ignore"):
        scale = conv(np.abs(x), np.abs(w), None if b is None else np.abs(b), None if gy is None else np.abs(gy))
    return truth, scale

LIBRARY = 'jax 0.10.2'
DESCRIPTOR = 'n1c1h1w1f1k1x1s1x1p0,0,0,0d1x1g1b0 bf16'
STRIDE, PADDING, DILATION, GROUPS = (1, 1), ((0, 0), (0, 0)), (1, 1), 1
X = _array(
    'I4A=',
    'bfloat16', (1, 1, 1, 1))
W = _array(
    'Cb0=',
    'bfloat16', (1, 1, 1, 1))
B = None
GY = _array(
    'Jz4=',
    'bfloat16', (1, 1, 1, 1))
BOUNDS = {
    'y': _array(
    'OIabNYYlkDc=',
    'float64', (1, 1, 1, 1)),
    'dx': _array(
    '1NcXbtZX9j4=',
    'float64', (1, 1, 1, 1)),
    'dw': _array(
    '0rhex7i2kDc=',
    'float64', (1, 1, 1, 1)),
}


def main():
    x, w, b, gy = X, W, B, GY
    backward = True
    print("library:", LIBRARY)
    print("case:", DESCRIPTOR)
    try:
        out = run_jax(x, w, b, gy if backward else None, STRIDE, PADDING, DILATION, GROUPS)
    except ImportError as exc:
        print(f"cannot run: {exc} (install the library named above)")
        return 2
    except Exception as exc:
        print(f"REPRODUCED: the library raised {type(exc).__name__}: {exc}")
        return 1
    truth, scale = reference64(x, w, b, gy if backward else None, STRIDE, PADDING, DILATION, GROUPS)
    found = []
    for name, bound in BOUNDS.items():
        got, want = out.get(name), truth[name]
        if got is None or np.shape(got) != want.shape or np.asarray(got).dtype != x.dtype:
            found.append(f"{name}: shape {np.shape(got)} dtype {getattr(got, 'dtype', None)}, "
                         f"expected {want.shape} {x.dtype}")
            continue
        got = np.asarray(got, dtype=np.float64)
        if not (np.isnan(got) == np.isnan(want)).all() or not (np.isinf(got) == np.isinf(want)).all():
            first = np.argwhere((np.isnan(got) != np.isnan(want)) | (np.isinf(got) != np.isinf(want)))[0]
            found.append(f"{name}: NaN/Inf positions differ from the float64 reference's, first at "
                         f"{tuple(first)}: got {got[tuple(first)]}, expected {want[tuple(first)]}")
            continue
        finite = np.isfinite(want)
        err = np.where(finite, np.abs(got - np.where(finite, want, 0)), 0)
        over = err > bound
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(err == 0, 0, err / bound)
        worst = np.unravel_index(int(np.argmax(ratio)), ratio.shape)
        print(f"{name}: max error/bound {ratio[worst]:.3g} at {tuple(int(i) for i in worst)} (got {got[worst]!r}, "
              f"float64 {want[worst]!r}, bound {bound[worst]:.3g}); {int(over.sum())}/{over.size} over the bound")
        if over.any():
            found.append(f"{name}: {int(over.sum())}/{over.size} elements over the bound, worst error/bound "
                         f"{ratio[worst]:.3g}")
    if found:
        print("REPRODUCED: " + "; ".join(found))
        return 1
    print("not reproduced: every checked output within its bound, NaN/Inf positions equal")
    return 0


if __name__ == "__main__":
    sys.exit(main())
