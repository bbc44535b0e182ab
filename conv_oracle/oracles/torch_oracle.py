"""PyTorch oracle: ``F.conv2d`` and autograd in float64 on the tested (rounded) inputs.

It provides the truth for every comparison and, from the same graph on absolute values,
the magnitude arrays ``s`` that the error bounds are built from.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

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
    }


def _conv(spec: ConvSpec, x, w, b):
    (pt, pb), (pl, pr) = spec.padding
    x = F.pad(x, (pl, pr, pt, pb))  # asymmetric padding: pad first, then a valid conv
    return F.conv2d(x, w, b, stride=spec.stride, padding=0, dilation=spec.dilation, groups=spec.groups)


def _forward_backward(spec: ConvSpec, x, w, b, gy):
    xt = torch.from_numpy(x).requires_grad_()
    wt = torch.from_numpy(w).requires_grad_()
    bt = torch.from_numpy(b).requires_grad_() if b is not None else None
    y = _conv(spec, xt, wt, bt)
    leaves = [xt, wt] + ([bt] if bt is not None else [])
    grads = torch.autograd.grad(y, leaves, torch.from_numpy(gy))
    out = {"y": y.detach().numpy(), "dx": grads[0].numpy(), "dw": grads[1].numpy()}
    if bt is not None:
        out["db"] = grads[2].numpy()
    return out


def reference(spec: ConvSpec, x, w, b, gy) -> tuple[dict, dict]:
    """(truth, scale) for y, dx, dw, db; inputs are float64 NCHW/OIHW arrays.

    scale[o] is the same quantity computed on |x|, |w|, |b|, |gy|: for y that is
    conv(|x|,|w|)+|b|, for dx conv_transpose(|gy|,|w|), for dw corr(|x|,|gy|), for db sum|gy|.
    """
    return _forward_backward(spec, x, w, b, gy), magnitudes(spec, x, w, b, gy)


def magnitudes(spec: ConvSpec, x, w, b, gy) -> dict:
    """The ``scale`` arrays alone: the same convolutions on absolute values."""
    return _forward_backward(spec, np.abs(x), np.abs(w), None if b is None else np.abs(b), np.abs(gy))
