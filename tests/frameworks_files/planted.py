"""Planted "libraries" with known faults, for the triage and the reproduction scripts: each
``run_*`` is NumPy only, as a real candidate's is (it is copied into the scripts)."""
from conv_oracle import Capabilities, DirectSum

from impls.frameworks.base import FrameworkPlugin


def run_planted(x, w, b, gy, stride, padding, dilation, groups, *, fault=""):
    """A direct conv2d (forward only) with one planted fault."""
    import numpy as np

    if fault == "not-implemented" and tuple(dilation) != (1, 1):
        raise NotImplementedError("dilation is not implemented")
    if fault == "segfaults":
        import ctypes
        ctypes.string_at(0)                      # reads address 0: SIGSEGV, on every call
    if fault == "dies-after-five-calls":         # state that grows in the process: the sixth call ends it
        run_planted.calls = getattr(run_planted, "calls", 0) + 1
        if run_planted.calls > 5:
            import os
            os._exit(1)
    storage = x.dtype
    if fault == "float32-arithmetic":   # a float64 conv computed in float32 (inputs cast, sums in float32)
        x, w, b = (None if a is None else a.astype(np.float32) for a in (x, w, b))
    if fault == "mixes-batch":      # each image leaks 1e-3 of the next one into its output (none when N = 1)
        x = x + np.float32(1e-3) * (np.roll(x, 1, axis=0) - x)
    (pt, pb), (pl, pr) = padding
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    f, cg, kh, kw = w.shape
    fg = f // groups
    (sh, sw), (dh, dw) = stride, dilation
    ho, wo = (xp.shape[2] - dh * (kh - 1) - 1) // sh + 1, (xp.shape[3] - dw * (kw - 1) - 1) // sw + 1
    if fault == "bfloat16-inputs":   # x and w rounded to bfloat16 (nearest even) before a float32 sum
        def bf16(a):
            bits = a.astype(np.float32).view(np.uint32)
            return ((bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000).astype(np.uint32).view(np.float32)
        xp, w = bf16(xp), bf16(w)
    acc = x.dtype
    y = np.zeros((x.shape[0], f, ho, wo), dtype=acc)
    for g in range(groups):
        for i in range(kh):
            for j in range(kw):
                tap = xp[:, g * cg:(g + 1) * cg, i * dh:i * dh + sh * (ho - 1) + 1:sh, j * dw:j * dw + sw * (wo - 1) + 1:sw]
                for c in range(cg):   # one product at a time, summed in the accumulation dtype
                    y[:, g * fg:(g + 1) * fg] += (tap[:, c, None] * w[None, g * fg:(g + 1) * fg, c, i, j, None, None]).astype(acc)
    y = y.astype(x.dtype)
    if b is not None and fault != "drops-bias":
        y += b[None, :, None, None]
    if fault == "crops-output":
        y = y[:, :, :-1]
    return {"y": y.astype(storage)}


class Planted(FrameworkPlugin):
    description = "a planted fault in a NumPy direct convolution"
    run = run_planted
    standalone = (run_planted,)
    capabilities = Capabilities(dtypes=("float32",), backward=False, max_stride=1)
    error_model = DirectSum()


class BFloat16Inputs(Planted):
    name = "planted-bf16-inputs"
    options = {"fault": "bfloat16-inputs"}


class DropsBias(Planted):
    name = "planted-drops-bias"
    capabilities = Capabilities(dtypes=("float32",), backward=False, max_stride=1, bias_required=True)
    options = {"fault": "drops-bias"}


class CropsOutput(Planted):
    name = "planted-crops-output"
    options = {"fault": "crops-output"}


class NotImplementedDilation(Planted):
    name = "planted-not-implemented"
    options = {"fault": "not-implemented"}


class Float32Arithmetic(Planted):
    name = "planted-float32-arithmetic"
    capabilities = Capabilities(dtypes=("float64",), backward=False, max_stride=1)
    options = {"fault": "float32-arithmetic"}


class NoFault(Planted):
    name = "planted-no-fault"


class MixesBatch(Planted):
    name = "planted-mixes-batch"
    options = {"fault": "mixes-batch"}


class Segfaults(Planted):
    name = "planted-segfaults"
    options = {"fault": "segfaults"}


class DiesAfterFiveCalls(Planted):
    name = "planted-dies-after-five-calls"
    options = {"fault": "dies-after-five-calls"}


def run_wrong_with_two_threads(x, w, b, gy, stride, padding, dilation, groups):
    """A direct conv2d whose output is doubled when torch computes with two or more intra-op
    threads: a fault that shows only under the thread settings of the process it runs in."""
    import torch

    out = run_planted(x, w, b, gy, stride, padding, dilation, groups)
    if torch.get_num_threads() >= 2:
        out["y"] = out["y"] * 2
    return out


class WrongWithTwoThreads(Planted):
    name = "planted-wrong-with-two-threads"
    requires = ("torch",)
    run = run_wrong_with_two_threads
    standalone = (run_planted, run_wrong_with_two_threads)

    def setup(self) -> None:
        import torch

        torch.set_num_threads(2)          # the worker starts with one thread; this candidate asks for two


def run_planted_nhwc(x, w, b, gy, stride, padding, dilation, groups, *, fault=""):
    """``run_planted`` behind an NHWC x / HWIO w / NHWC y interface, as TensorFlow's is."""
    out = run_planted(x.transpose(0, 3, 1, 2), w.transpose(3, 2, 0, 1), b, gy, stride, padding, dilation, groups,
                      fault=fault)
    return {"y": out["y"].transpose(0, 2, 3, 1)}


class NHWCNoFault(Planted):
    name = "planted-nhwc-no-fault"
    layout = "NHWC"
    run = run_planted_nhwc
    standalone = (run_planted, run_planted_nhwc)


class NHWCDropsBias(NHWCNoFault):
    name = "planted-nhwc-drops-bias"
    capabilities = DropsBias.capabilities
    options = {"fault": "drops-bias"}
