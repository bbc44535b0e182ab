"""OpenCV candidate: ``cv2.filter2D`` (a 2-D correlation of one plane with one kernel), applied
per (sample, output channel, input channel) and summed over the input channels of the group.

What filter2D supports, and no more: stride 1, no dilation, float32 and float64, one plane at
a time; padding is applied as explicit zeros before the call, so the anchor is (0, 0) and the
valid region never reads the border. Kernels up to 10x10: from about 11x11 filter2D switches
to a DFT, whose error is normwise (an FFT model), not a direct sum's. Forward only.
"""
from __future__ import annotations

from conv_oracle import Capabilities, DirectSum

from .base import FrameworkPlugin


def run_opencv(x, w, b, gy, stride, padding, dilation, groups):
    """y[n, f] = sum_c filter2D(x_padded[n, c], w[f, c]) (+ b[f]); x NCHW, w OIHW; forward only."""
    import cv2
    import numpy as np

    if gy is not None:
        raise NotImplementedError("cv2.filter2D has no backward pass")
    if tuple(stride) != (1, 1) or tuple(dilation) != (1, 1):
        raise NotImplementedError("cv2.filter2D has no stride or dilation")
    (pt, pb), (pl, pr) = padding
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    n, c, hp, wp = xp.shape
    f, cg, kh, kw = w.shape
    fg = f // groups
    ho, wo = hp - kh + 1, wp - kw + 1
    y = np.zeros((n, f, ho, wo), dtype=x.dtype)
    for i in range(n):
        for o in range(f):
            g = o // fg
            for k in range(cg):
                plane = np.ascontiguousarray(xp[i, g * cg + k])
                kernel = np.ascontiguousarray(w[o, k])
                y[i, o] += cv2.filter2D(plane, -1, kernel, anchor=(0, 0), borderType=cv2.BORDER_CONSTANT)[:ho, :wo]
            if b is not None:
                y[i, o] += b[o]
    return {"y": y}


class OpenCVFilter2D(FrameworkPlugin):
    name = "opencv-filter2d"
    description = "cv2.filter2D per input plane (anchor (0,0), explicit zero padding), planes summed per channel group"
    requires = ("cv2",)
    run = run_opencv
    standalone = (run_opencv,)
    capabilities = Capabilities(dtypes=("float32", "float64"), max_stride=1, max_dilation=1, kernel_max=10,
                                backward=False, max_elements=200_000)
    error_model = DirectSum()      # each filter2D output a direct sum of kh*kw terms, then C/g more
    backward_method = "none (filter2D is forward only)"

    def setup(self) -> None:
        import cv2

        cv2.setNumThreads(1)

    def library_settings(self) -> dict:
        import cv2

        return {"threads": cv2.getNumThreads(), "optimized": cv2.useOptimized()}
