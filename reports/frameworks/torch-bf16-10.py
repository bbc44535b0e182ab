#!/usr/bin/env python3
"""Reproduction: torch-bf16 n1c1h1w1f1k1x1s1x1p0,0,0,0d1x1g1b0 bf16 (bound)

Candidate torch-bf16: torch.nn.functional.conv2d in bfloat16, eager, CPU (oneDNN's bf16 kernels where the CPU has them)
Case n1c1h1w1f1k1x1s1x1p0,0,0,0d1x1g1b0 bf16 (forward and backward), failure kind: bound.
Triage: precision property: y error 9.33e-41 is 2.02x the declared bound (y failing); within the standard model 'float32/flushed' (exact float32 direct sum, subnormals flushed to zero: direct-sum: |err| <= u_s|y| + (1+u_s)gamma_K(u_acc)*sum|x||w| + underflow per element; accumulating in float32 for bf16/f16, else the storage dtype, output rounded to storage, bias before that rounding, subnormals flushed)
Library: torch 2.13.0+cpu. Machine: AMD EPYC [sse4_2 avx avx2 fma f16c avx_vnni avx512f avx512bw avx512vl avx512_vnni avx512_bf16], oneDNN ISA Intel AVX-512 with Intel DL Boost and bfloat16 support, Linux-6.18.44-fc-v657-x86_64-with-glibc2.36.
Declared error model: direct-sum: |err| <= u_s|y| + (1+u_s)gamma_K(u_acc)*sum|x||w| + underflow per element; accumulating in float32, output rounded to storage, bias before that rounding; BOUNDS below is that model's bound plus the
float64 reference's own error, per element, as computed by conv-oracle.
The reference is a float64 direct sum over the same (rounded) inputs.

Run: python torch-bf16-10.py   (exit 1 and REPRODUCED when the finding shows, 0 when not, 2 without the
library; needs only torch 2.13.0+cpu and NumPy)
"""
import base64
import os
import sys

import numpy as np

ENVIRONMENT = {}   # the library settings the candidate declares, set before its import
os.environ.update(ENVIRONMENT)


def _array(data, dtype, shape):
    if dtype == "bfloat16":
        import ml_dtypes  # NumPy's bfloat16 (installed with JAX and torch)
        dtype = ml_dtypes.bfloat16
    return np.frombuffer(base64.b64decode("".join(data)), dtype=dtype).reshape(shape).copy()

def torch_compiled_conv(options_key):
    """One ``torch.compile``d conv2d per option set, through inductor, with the recompile limit
    raised (every new shape or stride recompiles) and a backend wrapper that proves inductor
    compiled and ran the graph: ``calls["compiled"]`` and ``calls["ran"]`` count it."""
    cache = torch_compiled_conv.__dict__.setdefault("cache", {})
    if options_key in cache:
        return cache[options_key]
    import torch
    import torch._dynamo
    import torch.nn.functional as F
    from torch._inductor.compile_fx import compile_fx

    torch._dynamo.config.recompile_limit = 10**6
    torch._dynamo.config.accumulated_recompile_limit = 10**6
    torch._dynamo.config.fail_on_recompile_limit_hit = True   # never fall back to eager silently
    calls = {"compiled": 0, "ran": 0}

    def inductor(gm, example_inputs):
        calls["compiled"] += 1
        compiled = compile_fx(gm, example_inputs)

        def ran(*args):
            calls["ran"] += 1
            return compiled(*args)
        return ran

    def conv(x, w, b, stride, padding, dilation, groups, pads):
        if pads is not None:
            x = F.pad(x, pads)
        return F.conv2d(x, w, b, stride, padding, dilation, groups)

    cache[options_key] = (torch.compile(conv, backend=inductor, fullgraph=True, dynamic=False), calls)
    return cache[options_key]

def run_torch(x, w, b, gy, stride, padding, dilation, groups, *, memory_format="contiguous", mkldnn=True,
              compiled=False):
    """torch.nn.functional.conv2d on CPU; x NCHW, w OIHW; gy None: forward only."""
    import contextlib

    import numpy as np
    import torch
    import torch.nn.functional as F

    def to_torch(a):
        if a is None:
            return None
        if a.dtype.name == "bfloat16":  # NumPy's bfloat16 (ml_dtypes) is not a torch dtype: go through f32, exactly
            t = torch.from_numpy(a.astype(np.float32)).to(torch.bfloat16)
        else:
            t = torch.from_numpy(a)
        return t.requires_grad_(gy is not None)

    def to_numpy(t, like):
        t = t.detach()
        if t.dtype == torch.bfloat16:
            return t.float().numpy().astype(like.dtype)
        return t.contiguous().numpy().copy()

    xt, wt, bt = to_torch(x), to_torch(w), to_torch(b)
    fmt = torch.channels_last if memory_format == "channels_last" else torch.contiguous_format
    xin, win = xt.contiguous(memory_format=fmt), wt.contiguous(memory_format=fmt)
    (pt, pb), (pl, pr) = padding
    symmetric = pt == pb and pl == pr
    pads = None if symmetric else (pl, pr, pt, pb)
    native = (pt, pl) if symmetric else (0, 0)
    flags = contextlib.nullcontext() if mkldnn else torch.backends.mkldnn.flags(enabled=False)
    with flags:
        if compiled:
            fn, calls = torch_compiled_conv((memory_format, mkldnn))
            ran = calls["ran"]
            y = fn(xin, win, bt, tuple(stride), native, tuple(dilation), groups, pads)
            if calls["ran"] != ran + 1:
                raise RuntimeError(f"torch.compile did not run the inductor graph (calls {calls}): it fell back")
        else:
            xp = F.pad(xin, pads) if pads is not None else xin
            y = F.conv2d(xp, win, bt, tuple(stride), native, tuple(dilation), groups)
        out = {"y": to_numpy(y, x)}
        if gy is not None:
            leaves = [xt, wt] + ([bt] if bt is not None else [])
            grads = torch.autograd.grad(y, leaves, to_torch(gy).detach().contiguous(memory_format=fmt))
            out["dx"], out["dw"] = to_numpy(grads[0], x), to_numpy(grads[1], w)
            if bt is not None:
                out["db"] = to_numpy(grads[2], b)
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

LIBRARY = 'torch 2.13.0+cpu'
DESCRIPTOR = 'n1c1h1w1f1k1x1s1x1p0,0,0,0d1x1g1b0 bf16'
STRIDE, PADDING, DILATION, GROUPS = (1, 1), ((0, 0), (0, 0)), (1, 1), 1
X = _array(
    'LoA=',
    'bfloat16', (1, 1, 1, 1))
W = _array(
    'tbw=',
    'bfloat16', (1, 1, 1, 1))
B = None
GY = _array(
    'hzs=',
    'bfloat16', (1, 1, 1, 1))
BOUNDS = {
    'y': _array(
    'M5amMJYgkDc=',
    'float64', (1, 1, 1, 1)),
    'dx': _array(
    'dNmc9Nfclz4=',
    'float64', (1, 1, 1, 1)),
    'dw': _array(
    'lqAWliAGkDc=',
    'float64', (1, 1, 1, 1)),
}


def main():
    x, w, b, gy = X, W, B, GY
    backward = True
    print("library:", LIBRARY)
    print("case:", DESCRIPTOR)
    try:
        out = run_torch(x, w, b, gy if backward else None, STRIDE, PADDING, DILATION, GROUPS)
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
