"""SciPy candidate: ``scipy.signal.correlate2d`` (mode 'valid') per (sample, output channel,
input channel) on the explicitly zero-padded plane, summed over the input channels of the group.

What correlate2d supports: stride 1, no dilation, one plane at a time, float32 and float64.
Forward only.
"""
from __future__ import annotations

from conv_oracle import Capabilities, DirectSum

from .base import FrameworkPlugin


def run_scipy(x, w, b, gy, stride, padding, dilation, groups):
    """y[n, f] = sum_c correlate2d(x_padded[n, c], w[f, c], 'valid') (+ b[f]); forward only."""
    import numpy as np
    from scipy import signal

    if gy is not None:
        raise NotImplementedError("scipy.signal.correlate2d has no backward pass")
    if tuple(stride) != (1, 1) or tuple(dilation) != (1, 1):
        raise NotImplementedError("scipy.signal.correlate2d has no stride or dilation")
    (pt, pb), (pl, pr) = padding
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    n = xp.shape[0]
    f, cg, kh, kw = w.shape
    fg = f // groups
    y = np.zeros((n, f, xp.shape[2] - kh + 1, xp.shape[3] - kw + 1), dtype=x.dtype)
    for i in range(n):
        for o in range(f):
            g = o // fg
            for k in range(cg):
                y[i, o] += signal.correlate2d(xp[i, g * cg + k], w[o, k], mode="valid")
            if b is not None:
                y[i, o] += b[o]
    return {"y": y}


class ScipyCorrelate2d(FrameworkPlugin):
    name = "scipy-correlate2d"
    description = "scipy.signal.correlate2d(mode='valid') per input plane on the zero-padded input, summed per group"
    requires = ("scipy",)
    install = "pip install scipy"
    run = run_scipy
    standalone = (run_scipy,)
    capabilities = Capabilities(dtypes=("float32", "float64"), max_stride=1, max_dilation=1, backward=False,
                                max_elements=200_000)
    error_model = DirectSum()
    backward_method = "none (correlate2d is forward only)"
