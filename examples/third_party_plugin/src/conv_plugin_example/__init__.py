"""Shift-and-add convolution in NHWC/HWIO: one GEMM per kernel tap, forward and backward."""
import numpy as np

from conv_oracle import Capabilities, ConvPlugin, DirectSum


def _tap_slices(spec, ki, kj):
    """Rows and columns of the padded input that tap (ki, kj) multiplies, one per output pixel."""
    (sh, sw), (dh, dw) = spec.stride, spec.dilation
    ho, wo = spec.out_hw
    return (slice(ki * dh, ki * dh + sh * (ho - 1) + 1, sh), slice(kj * dw, kj * dw + sw * (wo - 1) + 1, sw))


class ShiftAddConv(ConvPlugin):
    name = "shift-add"
    description = "third-party example: shift-and-add, one GEMM per kernel tap (NHWC)"
    capabilities = Capabilities(dtypes=("float32", "float64"), groups=False)
    error_model = DirectSum()
    layout = "NHWC"
    backward_method = "one GEMM per tap for dx and dw; db a reduction"

    def forward(self, x, w, b, spec):
        self.check_supported(spec)
        (pt, pb), (pl, pr) = spec.padding
        xp = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)))         # (N, Hp, Wp, C)
        y = np.zeros((spec.n, *spec.out_hw, spec.f), dtype=x.dtype)   # (N, Ho, Wo, F)
        for ki in range(spec.kh):
            for kj in range(spec.kw):
                rows, cols = _tap_slices(spec, ki, kj)
                y += xp[:, rows, cols, :] @ w[ki, kj]                    # (N, Ho, Wo, C) @ (C, F)
        return y + b if b is not None else y

    def backward(self, x, w, b, gy, spec):
        self.check_supported(spec, backward=True)
        (pt, pb), (pl, pr) = spec.padding
        xp = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)))
        dxp = np.zeros_like(xp)
        dw = np.zeros_like(w)                                          # (KH, KW, C, F)
        for ki in range(spec.kh):
            for kj in range(spec.kw):
                rows, cols = _tap_slices(spec, ki, kj)
                dxp[:, rows, cols, :] += gy @ w[ki, kj].T                # (N, Ho, Wo, F) @ (F, C)
                dw[ki, kj] = np.tensordot(xp[:, rows, cols, :], gy, axes=([0, 1, 2], [0, 1, 2]))
        dx = dxp[:, pt:pt + spec.h, pl:pl + spec.w, :]
        return dx, dw, (gy.sum(axis=(0, 1, 2)) if b is not None else None)
