"""PyTorch oracle: ``F.conv2d`` and autograd in float64 on the tested (rounded) inputs.

It provides the truth for every comparison and, from the same graph on absolute values,
the magnitude arrays ``s`` that the error bounds are built from.
"""
from __future__ import annotations

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


def reference(spec: ConvSpec, x, w, b, gy) -> tuple[dict, dict]:
    """(truth, scale) for y, dx, dw, db; inputs are float64 NCHW/OIHW arrays.

    scale[o] is the same quantity computed on |x|, |w|, |b|, |gy|: for y that is
    conv(|x|,|w|)+|b|, for dx conv_transpose(|gy|,|w|), for dw corr(|x|,|gy|), for db sum|gy|.
    Two plain calls, signed and absolute: one batched call with the two problems side by side
    as 2g groups (tried) takes torch's grouped path, 1.1-2.2x slower (n4c32h16w16f32k3p1:
    8.6 ms against 3.9 ms), with bitwise the same results.
    """
    return _fwd_bwd(spec, x, w, b, gy, spec.groups), magnitudes(spec, x, w, b, gy)


def magnitudes(spec: ConvSpec, x, w, b, gy) -> dict:
    """The ``scale`` arrays alone: the same convolutions on absolute values."""
    return _fwd_bwd(spec, np.abs(x), np.abs(w), None if b is None else np.abs(b), np.abs(gy), spec.groups)
