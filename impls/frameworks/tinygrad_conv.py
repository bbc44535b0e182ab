"""tinygrad candidate: ``Tensor.conv2d`` on the CPU device (kernels compiled by clang),
forward, and backward by ``Tensor.gradient``.

Padding is tinygrad's 4-tuple (left, right, top, bottom), so asymmetric padding is native.
Settings fixed before import: the CPU device, and the kernel cache off (``CACHELEVEL=0``), so
that no run reads kernels compiled by another tinygrad version or machine.
"""
from __future__ import annotations

import shutil

from conv_oracle import Capabilities, DirectSum

from .base import FrameworkPlugin


def run_tinygrad(x, w, b, gy, stride, padding, dilation, groups):
    """Tensor.conv2d on NCHW / OIHW; gy None: forward only, else Tensor.gradient(x, w, b)."""
    import numpy as np
    from tinygrad import Tensor

    (pt, pb), (pl, pr) = padding
    xt, wt = Tensor(x), Tensor(w)
    bt = None if b is None else Tensor(b)
    y = xt.conv2d(wt, bt, groups=groups, stride=tuple(stride), dilation=tuple(dilation), padding=(pl, pr, pt, pb))
    out = {"y": y.numpy().copy()}
    if gy is not None:
        leaves = [xt, wt] + ([bt] if bt is not None else [])
        grads = y.gradient(*leaves, gradient=Tensor(gy))
        out["dx"], out["dw"] = grads[0].numpy().copy(), grads[1].numpy().copy()
        if bt is not None:
            out["db"] = grads[2].numpy().copy()
    return {k: np.asarray(v) for k, v in out.items()}


class TinygradConv(FrameworkPlugin):
    name = "tinygrad"
    description = "tinygrad Tensor.conv2d on the CPU device (clang-compiled kernels), Tensor.gradient for backward"
    requires = ("tinygrad",)
    environment = {"DEV": "CPU", "CPU": "1", "CACHELEVEL": "0"}
    run = run_tinygrad
    standalone = (run_tinygrad,)
    capabilities = Capabilities(dtypes=("float32",), max_elements=200_000)
    error_model = DirectSum()
    backward_method = "Tensor.gradient (tinygrad's autograd)"

    @classmethod
    def unavailable_reason(cls) -> str | None:
        missing = super().unavailable_reason()
        if missing is None and shutil.which("clang") is None:
            return "clang not found: tinygrad's CPU backend compiles with it (Debian: apt-get install clang)"
        return missing

    def library_settings(self) -> dict:
        from tinygrad import Device

        return {"device": Device.DEFAULT}
