"""The readable reference: explicit loops over groups and output positions.

Each output pixel is the contraction of one receptive-field window with the kernel;
the sum over channels and kernel taps is a single ``tensordot``. The backward pass
scatters each output-gradient pixel back through the same window. Written to be
obviously correct, not fast (see ``impls/im2col.py`` for that).

bfloat16 and float16 are computed as every mainstream library does: the inputs are widened to
float32 (exactly), products and sums are float32, the bias is added in float32, and each
output is rounded to the storage dtype once, at the end (``DirectSum``'s default for them).
"""
from __future__ import annotations

import numpy as np

from conv_oracle import Capabilities, ConvPlugin, ConvSpec, DirectSum


def _accumulator(dtype: np.dtype) -> np.dtype:
    """float32 for bfloat16/float16 storage (their products are exact in it), else the dtype."""
    return np.dtype(np.float32) if dtype.itemsize < 4 else dtype


def _widened(*arrays):
    """The arrays in the accumulation dtype (exact); None stays None. float32/float64: no copy."""
    return [None if a is None else a.astype(_accumulator(a.dtype), copy=False) for a in arrays]


def _padded(x: np.ndarray, spec: ConvSpec) -> np.ndarray:
    (pt, pb), (pl, pr) = spec.padding
    return np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))


def _window(spec: ConvSpec, i: int, j: int) -> tuple[slice, slice]:
    """Rows and columns of the padded input read by output pixel (i, j): KH x KW taps."""
    (sh, sw), (dh, dw) = spec.stride, spec.dilation
    rows = slice(i * sh, i * sh + dh * (spec.kh - 1) + 1, dh)
    cols = slice(j * sw, j * sw + dw * (spec.kw - 1) + 1, dw)
    return rows, cols


def _groups(spec: ConvSpec):
    """(input-channel slice, output-channel slice) of each group."""
    cg, fg = spec.c // spec.groups, spec.f // spec.groups
    for g in range(spec.groups):
        yield slice(g * cg, (g + 1) * cg), slice(g * fg, (g + 1) * fg)


class LoopConv(ConvPlugin):
    name = "loop"
    description = ("readable reference: Python loops over groups and output pixels, tensordot per window; "
                   "bfloat16/float16 accumulate in float32, bias added before the one rounding to storage")
    capabilities = Capabilities(dtypes=("bfloat16", "float16", "float32", "float64"), max_elements=2_000_000)
    error_model = DirectSum(accumulate=None, bias="before")   # None: float32 for bf16/f16, else the dtype
    backward_method = "scatter of each output-gradient pixel through its window (direct summation)"

    def forward(self, x, w, b, spec):
        self.check_supported(spec)
        store, (x, w, b) = x.dtype, _widened(x, w, b)
        xp = _padded(x, spec)                                  # (N, C, Hp, Wp)
        ho, wo = spec.out_hw
        y = np.zeros(spec.y_shape, dtype=x.dtype)              # (N, F, Ho, Wo)
        for cin, cout in _groups(spec):
            wg = w[cout]                                       # (F/g, C/g, KH, KW)
            for i in range(ho):
                for j in range(wo):
                    rows, cols = _window(spec, i, j)
                    patch = xp[:, cin, rows, cols]              # (N, C/g, KH, KW)
                    y[:, cout, i, j] = np.tensordot(patch, wg, axes=([1, 2, 3], [1, 2, 3]))
        if b is not None:
            y += b[None, :, None, None]
        return y.astype(store, copy=False)                     # the one rounding to storage

    def backward(self, x, w, b, gy, spec):
        self.check_supported(spec, backward=True)
        store, (x, w, gy) = x.dtype, _widened(x, w, gy)
        xp = _padded(x, spec)
        dxp = np.zeros_like(xp)                                # gradient of the padded input
        dw = np.zeros_like(w)
        ho, wo = spec.out_hw
        (pt, pb), (pl, pr) = spec.padding                      # all four named: the planted padding bugs use them
        for cin, cout in _groups(spec):
            wg = w[cout]                                       # (F/g, C/g, KH, KW)
            for i in range(ho):
                for j in range(wo):
                    rows, cols = _window(spec, i, j)
                    g_ij = gy[:, cout, i, j]                   # (N, F/g)
                    dw[cout] += np.tensordot(g_ij, xp[:, cin, rows, cols], axes=([0], [0]))
                    dxp[:, cin, rows, cols] += np.tensordot(g_ij, wg, axes=([1], [0]))
        dx = dxp[:, :, pt:pt + spec.h, pl:pl + spec.w]         # crop; works for zero padding too
        db = gy.sum(axis=(0, 2, 3)) if b is not None else None
        dx, dw, db = (None if a is None else a.astype(store, copy=False) for a in (dx, dw, db))  # one rounding each
        return dx, dw, db
