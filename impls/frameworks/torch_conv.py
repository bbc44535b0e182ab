"""PyTorch CPU candidates: eager (default memory format, channels_last, oneDNN disabled),
``torch.compile`` (inductor) and the reduced-precision dtypes, forward and backward (autograd).

Asymmetric padding is done as users do it, ``F.pad`` then a 'valid' convolution; symmetric
padding goes to ``F.conv2d``'s own ``padding``. Which kernel runs (oneDNN, the native
im2col path, ...) depends on the CPU, the dtype and the memory format: the report records
the CPU flags and ``torch.backends.cpu.get_cpu_capability()``.
"""
from __future__ import annotations

from conv_oracle import Capabilities, DirectSum

from .base import FrameworkPlugin


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


class TorchCandidate(FrameworkPlugin):
    requires = ("torch",)
    run = run_torch
    standalone = (torch_compiled_conv, run_torch)
    capabilities = Capabilities(dtypes=("float32", "float64"), max_elements=2_000_000)
    error_model = DirectSum()
    backward_method = "autograd (torch.autograd.grad)"

    def setup(self) -> None:
        import torch

        torch.set_num_threads(1)

    def library_settings(self) -> dict:
        import torch

        return {"cpu_capability": torch.backends.cpu.get_cpu_capability(),
                "mkldnn_available": torch.backends.mkldnn.is_available(),
                "mkldnn_enabled": torch.backends.mkldnn.enabled, "threads": torch.get_num_threads(),
                "onednn": next((line.strip(" -") for line in torch.__config__.show().splitlines()
                                if "MKL-DNN" in line or "oneDNN" in line), "")}


class TorchEager(TorchCandidate):
    name = "torch-eager"
    description = "torch.nn.functional.conv2d, eager, default (contiguous) memory format, CPU"


class TorchChannelsLast(TorchCandidate):
    name = "torch-channels-last"
    description = "torch.nn.functional.conv2d, eager, x and w in torch.channels_last, CPU"
    options = {"memory_format": "channels_last"}


class TorchNoMkldnn(TorchCandidate):
    name = "torch-no-mkldnn"
    description = "torch.nn.functional.conv2d under torch.backends.mkldnn.flags(enabled=False): torch's own kernels"
    options = {"mkldnn": False}


class TorchCompile(TorchCandidate):
    name = "torch-compile"
    description = ("torch.compile(F.conv2d, inductor backend, fullgraph, static shapes), CPU; the recompile limit "
                   "is raised and every call is checked to have run the inductor graph (no eager fallback)")
    capabilities = Capabilities(dtypes=("float32",), max_elements=2_000_000)
    options = {"compiled": True}
    backward_method = "autograd through the compiled graph (AOTAutograd + inductor)"

    def setup(self) -> None:
        """Pay inductor's one-time start-up (about 10 s) before the first case's timeout runs."""
        import numpy as np

        super().setup()
        x, w = np.ones((1, 1, 3, 3), np.float32), np.ones((1, 1, 2, 2), np.float32)
        run_torch(x, w, None, np.ones((1, 1, 2, 2), np.float32), (1, 1), ((0, 0), (0, 0)), (1, 1), 1,
                  **self.options)


class TorchFloat16(TorchCandidate):
    name = "torch-f16"
    description = "torch.nn.functional.conv2d in float16, eager, CPU"
    capabilities = Capabilities(dtypes=("float16",), max_elements=2_000_000)
    # the mainstream contract: products exact in float32, float32 accumulation, output rounded to float16
    error_model = DirectSum(accumulate="float32")


class TorchBFloat16(TorchCandidate):
    name = "torch-bf16"
    description = "torch.nn.functional.conv2d in bfloat16, eager, CPU (oneDNN's bf16 kernels where the CPU has them)"
    capabilities = Capabilities(dtypes=("bfloat16",), max_elements=2_000_000)
    error_model = DirectSum(accumulate="float32")
