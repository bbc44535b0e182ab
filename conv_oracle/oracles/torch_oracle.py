"""PyTorch oracle: ``F.conv2d`` and its backward in float64 on the tested (rounded) inputs.

It provides the truth for every comparison and, from the same convolutions on absolute values,
the magnitude arrays ``s`` that the error bounds are built from.

Small cases (:data:`GATHERED_TAPS`: nearly all that fuzzing draws) are computed instead by
:func:`_gathered`: the same float64 products, gathered (im2col) and summed by matmuls in NumPy,
truth and magnitudes in one pass. torch's float64 CPU path runs a convolution per group and
concatenates (3-14x slower on fuzzing's grouped cases), and on small ungrouped cases its four
calls cost more than the arithmetic. Any order of float64
summation is an equally valid reference: the harness charges the reference its own error,
``2 gamma_K(u64) scale + K eta64``, whatever the order (``bounds.reference_bound``), and
``tests/test_torch_oracle.py`` holds the two paths to each other within that.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from ..spec import ConvSpec


def pin_precision() -> None:
    """No TF32 anywhere, full-precision float32 matmuls (matters only on a GPU)."""
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")


pin_precision()


def settings() -> dict:
    return {
        "torch": torch.__version__,
        "dtype": "float64",
        "device": "cpu",
        "threads": torch.get_num_threads(),
        "float32_matmul_precision": torch.get_float32_matmul_precision(),
        "cuda_matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32,
        "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32,
        "mkldnn": torch.backends.mkldnn.is_available(),
        "small_cases": f"NumPy {np.__version__} gathered taps + matmul in float64, up to "
                       f"{GATHERED_TAPS['grouped']} (grouped) / {GATHERED_TAPS['ungrouped']} (ungrouped) taps",
    }


def _fwd_bwd(spec: ConvSpec, x, w, b, gy, groups: int) -> dict:
    """y, dx, dw (db) of conv2d in float64 by one ``conv2d`` and one ``convolution_backward``
    call (no autograd graph: small cases are dominated by per-call overhead)."""
    (pt, pb), (pl, pr) = spec.padding
    symmetric = pt == pb and pl == pr
    xt = torch.from_numpy(x)
    if not symmetric:       # asymmetric padding: pad first, then a valid conv
        xt = torch.nn.functional.pad(xt, (pl, pr, pt, pb))
    padding = (pt, pl) if symmetric else (0, 0)
    wt = torch.from_numpy(w)
    bt = None if b is None else torch.from_numpy(b)
    y = torch.conv2d(xt, wt, bt, spec.stride, padding, spec.dilation, groups)
    dx, dw, db = torch.ops.aten.convolution_backward(
        torch.from_numpy(gy), xt, wt, None if bt is None else [bt.shape[0]], list(spec.stride), list(padding),
        list(spec.dilation), False, [0, 0], groups, [True, True, bt is not None])
    if not symmetric:
        dx = dx[:, :, pt:pt + spec.h, pl:pl + spec.w]
    out = {"y": y.numpy(), "dx": dx.numpy(), "dw": dw.numpy()}
    if bt is not None:
        out["db"] = db.numpy()
    return out


def _conv(spec: ConvSpec, x, w, b):
    """conv2d of torch tensors (asymmetric padding: pad first, then a valid conv)."""
    (pt, pb), (pl, pr) = spec.padding
    x = torch.nn.functional.pad(x, (pl, pr, pt, pb))
    return torch.conv2d(x, w, b, spec.stride, 0, spec.dilation, spec.groups)


def _forward_backward(spec: ConvSpec, x, w, b, gy) -> dict:
    """y, dx, dw (db) of numpy arrays in their own dtype."""
    return _fwd_bwd(spec, x, w, b, gy, spec.groups)


# ---- small cases: gathered taps and matmuls in NumPy --------------------------------------------
_OUTSIDE = 1 << 40      # an axis offset that lands in padding (past any array: two of them still fit int64)


@lru_cache(maxsize=512)
def _axis_offsets(size: int, kernel: int, dilation: int, stride: int, pad: int, out: int, step: int) -> np.ndarray:
    """(kernel, out) flat offsets ``(i*dilation + o*stride - pad) * step`` of the input index each
    tap reads along one axis, ``_OUTSIDE`` where it reads padding."""
    at = np.arange(0, kernel * dilation, dilation)[:, None] + np.arange(-pad, out * stride - pad, stride)
    out = np.where((at >= 0) & (at < size), at * step, _OUTSIDE)
    out.flags.writeable = False
    return out


@lru_cache(maxsize=512)
def _tap_offsets(spec_geometry: tuple) -> np.ndarray:
    """(KH, KW, Ho, Wo) flat offsets into one H x W channel plane (``_OUTSIDE`` and beyond:
    padding), for the geometry ``(h, w, kh, kw, stride, dilation, (pt, pl), (ho, wo))``."""
    h, w, kh, kw, (sh, sw), (dh, dw), (pt, pl), (ho, wo) = spec_geometry
    rows = _axis_offsets(h, kh, dh, sh, pt, ho, w)
    cols = _axis_offsets(w, kw, dw, sw, pl, wo, 1)
    out = rows[:, None, :, None] + cols[None, :, None, :]
    out.flags.writeable = False
    return out


def _gathered(spec: ConvSpec, x, w, b, gy, signed: bool = True) -> list[dict]:
    """[truth, scale] (``signed``) or [scale] of a case, by gathering every tap's input (im2col)
    into ``cols`` (A, N, G, C/g*KH*KW, Ho*Wo), A the variants (x and |x|, or |x| alone), then
    y = w @ cols (+ b), dw = sum_n gy @ cols^T, dx = scatter-add (col2im) of w^T @ gy, db = sum gy.
    Padding taps read a zero slot and their dx goes to it, as torch pads with zeros and drops
    the padding's gradient: the same products as torch's (NaN/Inf propagate alike), summed in
    another order."""
    n, c, h, wd = x.shape
    f, cg, kh, kw = w.shape
    g, fg = spec.groups, f // spec.groups
    ho, wo = gy.shape[2:]
    k, taps = cg * kh * kw, ho * wo
    a = 2 if signed else 1
    size = x.size
    zero = a * size                                       # the zero slot after the A copies of x
    flat = np.empty(zero + 1)
    if signed:
        flat[:size] = x.ravel()
    np.abs(x.ravel(), out=flat[zero - size:zero])
    flat[zero] = 0.0
    offsets = _tap_offsets((h, wd, kh, kw, spec.stride, spec.dilation, (spec.padding[0][0], spec.padding[1][0]),
                            (ho, wo)))
    planes = np.arange(0, zero, h * wd)[:, None, None, None, None]             # (A*N*C, 1, 1, 1, 1)
    index = np.minimum(planes + offsets, zero)                                 # (A*N*C, KH, KW, Ho, Wo)
    cols = flat.take(index).reshape(a, n, g, k, taps)
    wm = np.empty((a, f, cg, kh, kw))
    if signed:
        wm[0] = w
    np.abs(w, out=wm[a - 1])
    wm = wm.reshape(a, 1, g, fg, k)
    gym = np.empty((a, n, f, ho, wo))
    if signed:
        gym[0] = gy
    np.abs(gy, out=gym[a - 1])
    gyg = gym.reshape(a, n, g, fg, taps)
    with np.errstate(invalid="ignore", over="ignore"):   # Inf * 0 and Inf - Inf are NaN, as in torch
        y = np.matmul(wm, cols).reshape(a, n, f, ho, wo)
        dw = np.matmul(gyg, cols.swapaxes(-1, -2))                             # (A, N, G, F/g, k)
        dw = (dw[:, 0] if n == 1 else dw.sum(axis=1)).reshape(a, f, cg, kh, kw)
        dcols = np.matmul(wm.swapaxes(-1, -2), gyg)                            # (A, N, G, k, Ho*Wo)
        dx = np.bincount(index.ravel(), dcols.ravel(), zero + 1)[:zero].reshape((a,) + x.shape)
        if b is not None:
            if signed:
                y[0] += b[:, None, None]
            y[a - 1] += np.abs(b)[:, None, None]
            db = gym.sum(axis=(1, 3, 4))
    out = [{"y": y[i], "dx": dx[i], "dw": dw[i]} for i in range(a)]
    if b is not None:
        for i in range(a):
            out[i]["db"] = db[i]
    return out


#: Most taps (truth and magnitudes: 2 N C KH KW Ho Wo) gathered, grouped and ungrouped: beyond, the
#: index and ``cols`` arrays outgrow the core's cache and torch is faster (measured, one thread, warm:
#: grouped n2c16h8w8f16k3p1g16, 36,864 taps, 563 -> 188 us, n4c16h8w8f16k3p1g16, 73,728 taps,
#: 889 -> 1246 us; ungrouped n2c8h8w8f8k3p1, 18,432 taps, 117 -> 111 us, n4c8h10w10f8k3p1, 57,600
#: taps, 266 -> 300 us). In a fuzzing run torch's calls cost several times their warm time (its
#: dispatcher runs cold between cases): truth and magnitudes per example, loop, dev, budget 3000,
#: pinned, 0.34 -> 0.13 ms with small ungrouped cases gathered too.
GATHERED_TAPS = {"grouped": 40_000, "ungrouped": 20_000}


def _gathers(spec: ConvSpec) -> bool:
    """Whether :func:`_gathered` computes this case: small enough (:data:`GATHERED_TAPS`)."""
    ho, wo = spec.out_hw
    limit = GATHERED_TAPS["grouped" if spec.groups > 1 else "ungrouped"]
    return 2 * spec.n * spec.c * spec.kh * spec.kw * ho * wo <= limit


def reference(spec: ConvSpec, x, w, b, gy) -> tuple[dict, dict]:
    """(truth, scale) for y, dx, dw, db; inputs are float64 NCHW/OIHW arrays.

    scale[o] is the same quantity computed on |x|, |w|, |b|, |gy|: for y that is
    conv(|x|,|w|)+|b|, for dx conv_transpose(|gy|,|w|), for dw corr(|x|,|gy|), for db sum|gy|.
    Small cases: both in one :func:`_gathered` pass. Larger ones: two plain torch calls, signed
    and absolute (one batched call with the two problems side by side as 2g groups, tried, takes
    torch's grouped path, 1.1-2.2x slower: n4c32h16w16f32k3p1, 8.6 ms against 3.9 ms).
    """
    if _gathers(spec):
        truth, scale = _gathered(spec, x, w, b, gy)
        return truth, scale
    return _fwd_bwd(spec, x, w, b, gy, spec.groups), magnitudes(spec, x, w, b, gy)


def magnitudes(spec: ConvSpec, x, w, b, gy) -> dict:
    """The ``scale`` arrays alone: the same convolutions on absolute values."""
    if _gathers(spec):
        return _gathered(spec, x, w, b, gy, signed=False)[0]
    return _fwd_bwd(spec, np.abs(x), np.abs(w), None if b is None else np.abs(b), np.abs(gy), spec.groups)
