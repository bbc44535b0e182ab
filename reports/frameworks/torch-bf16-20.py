#!/usr/bin/env python3
"""Reproduction: torch-bf16 n1c16h1w1f1k3x3s2x2p1,1,1,1d1x1g1b0 bf16 (relation: homogeneity)

Candidate torch-bf16: torch.nn.functional.conv2d in bfloat16, eager, CPU (oneDNN's bf16 kernels where the CPU has them)
Relation homogeneity (oracle-free) on case n1c16h1w1f1k3x3s2x2p1,1,1,1d1x1g1b0 bf16, seed 0, failure kind: relation: homogeneity:
Triage: library bug: an oracle-free relation is violated (relation: homogeneity): homogeneity dw(2x) = 2*dw(x): Mismatched elements: 23 / 144 (16.0%)
  Greatest error/bound: inf at index (0, 0, 1, 0): got 2880.0, expected 5760.0 (error 2.88e+03, bound 0)
Library: torch 2.13.0+cpu. Machine: AMD EPYC [sse4_2 avx avx2 fma f16c avx_vnni avx512f avx512bw avx512vl avx512_vnni avx512_bf16], oneDNN ISA Intel AVX-512 with Intel DL Boost and bfloat16 support, Linux-6.18.44-fc-v657-x86_64-with-glibc2.36.
Scaling x and b by 2 scales y, dw and db by exactly 2 (powers of two round exactly).
The library is called on the 2 case(s) of the relation; each side of a check is held
to the declared error model (direct-sum: |err| <= u_s|y| + (1+u_s)gamma_K(u_acc)*sum|x||w| + underflow per element; accumulating in float32, output rounded to storage, bias before that rounding)
on its cases, the bounds summed: BOUNDS below, one per call, as computed by conv-oracle.

Run: python torch-bf16-20.py   (exit 1 and REPRODUCED when the finding shows, 0 when not, 2 without the
library; needs only torch 2.13.0+cpu and NumPy)
"""
import base64
import os
import sys

ENVIRONMENT = {}   # the library settings the candidate declares, set before its import
# the threads the finding ran with, in the harness's worker: variables set before any library loads
# (NumPy's BLAS included); TORCH_THREADS: torch's intra-op threads, set again after its import
THREADS = {'OPENBLAS_NUM_THREADS': '1', 'OMP_NUM_THREADS': '1'}
TORCH_THREADS = 1
CPUS = 2   # CPUs the worker could run on
os.environ.update(ENVIRONMENT)
os.environ.update(THREADS)

import numpy as np  # noqa: E402  (after the thread variables: its BLAS sizes its pool when it loads)


def use_threads():
    """Run with the finding's threads (the variables are set above) and say which."""
    torch = None
    if TORCH_THREADS:
        try:
            import torch
        except ImportError:
            pass                                      # the run says it cannot run
    if torch is not None:
        torch.set_num_threads(TORCH_THREADS)
        torch_line = f"torch intra-op threads {torch.get_num_threads()} (the finding's: {TORCH_THREADS}); "
    else:
        torch_line = ""
    variables = " ".join(f"{k}={v}" for k, v in THREADS.items()) or "no thread variables"
    print(f"threads: {torch_line}{variables}; {len(os.sched_getaffinity(0))} CPUs (the finding's: {CPUS})")


def _array(data, dtype, shape):
    if dtype == "bfloat16":
        import ml_dtypes  # NumPy's bfloat16 (installed with JAX and torch)
        dtype = ml_dtypes.bfloat16
    return np.frombuffer(base64.b64decode("".join(data)), dtype=dtype).reshape(shape).copy()

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

LIBRARY = 'torch 2.13.0+cpu'
DESCRIPTOR = 'n1c16h1w1f1k3x3s2x2p1,1,1,1d1x1g1b0 bf16'
RELATION = 'homogeneity'
UNIT_ROUNDOFF = {'float64': 1.1102230246251565e-16}
REFERENCE_DTYPE = 'float64'

def gamma(k: int, u: float) -> float:
    """gamma_k = k u / (1 - k u); infinite once k u >= 1 (no bound exists)."""
    ku = k * u
    return ku / (1.0 - ku) if ku < 1.0 else float("inf")


def adjoint_limit(err_a: float, err_b: float, magnitude_a: float, magnitude_b: float, length: int) -> float:
    """How far two inner products <y,g> and <x,dx> (or <w,dw>) of one implementation may differ:
    each side's error from the model (``err``, sum of |weights| x bound) plus the float64
    rounding of both dot products of ``length`` terms (``magnitude``: sum of |terms|)."""
    return err_a + err_b + gamma(length, UNIT_ROUNDOFF[REFERENCE_DTYPE]) * (magnitude_a + magnitude_b)


def subnormal_doubling(base, tiny, eta):
    """Doubling commutes with rounding to the storage format except on its subnormal grid
    (``tiny``: its smallest normal, 2^emin; ``eta``: half its smallest subnormal). Where
    |round(s)| <= tiny, s itself is at most tiny and |2 round(s) - 2s| <= 2 eta, while 2s < 2 tiny
    rounds with a spacing of at most 4 eta: |round(2s) - 2s| <= 2 eta. So |round(2s) - 2 round(s)|
    <= 4 eta there, and 0 elsewhere. (A float16 dw of 6e-5 is subnormal; its double is not:
    exactness is not owed there.)"""
    return np.where(np.abs(base) <= tiny, 4 * eta, 0.0)


def homogeneity_sides(runs, bias, tiny, eta):
    """Scaling x and b by 2 scales y, dw and db by exactly 2 (powers of two round exactly)."""
    base, twice = runs[0].out, runs[1].out
    sides = []
    for o in ("y", "dw") + (("db",) if bias else ()):
        factor = 1.0 if o == "db" else 2.0            # db depends on gy only
        bound = np.zeros_like(base[o]) if o == "db" else subnormal_doubling(base[o], tiny, eta)
        sides.append((f"homogeneity {o}(2x) = {factor:g}*{o}(x)", twice[o], factor * base[o], bound))
    return sides

PARAMS = {'bias': False, 'tiny': 1.1754943508222875e-38, 'eta': 4.591774807899561e-41}
CALLS = [
    dict(stride=(2, 2), padding=((1, 1), (1, 1)), dilation=(1, 1), groups=1, backward=True,
         x=_array(
    'AT4HviQ/1z0Jv7k+pz9yPzS/or8gvyk9FcBgvp+/O78=',
    'bfloat16', (1, 16, 1, 1)),
         w=_array(
    'C7+ivtM+hT8Evq8/Kr+0Pmc/wT0+v2y/6r5hPoG/Vr4jvgo/XD62Pie/Bb5JP78/ob/CP6w/SD+HPqG+uz/7P+c/qD+3Ppu/'
    'krsoP6W/yj7cPjI/mL8pv9++lr/fP/6+qD6Evss/qT8iPw3AVT0vP4E/Hr/pP6m/Kb9vP0k9AEBBPiK/wb6Mv6S/IT8VP6Y/'
    'Qb/YP5O+yj/evjy/gD6EPyU+Fr+sv7O/AT99Pyi+ir9fP6S/N78fPxDAxj4Vv+A9m71PPjI/Qr+2Pzo/WD+VP0o/WD+bPbe/'
    'Cr5Fv7a/hD4Sv4S/hr+JPrg+qT9kvIU/sz+TPxfAnT+uPtk+vj7EPqQ+uL7zv9+9Tr+KP5S+qz1ZvwO/Pby+v5o+2b2YvxnA',
    'bfloat16', (1, 16, 3, 3)),
         b=None,
         gy=_array(
    'Az8=',
    'bfloat16', (1, 1, 1, 1)),
    ),
    dict(stride=(2, 2), padding=((1, 1), (1, 1)), dilation=(1, 1), groups=1, backward=True,
         x=_array(
    'gT6HvqQ/Vz6Jvzk/J0DyP7S/IsCgv6k9lcDgvh/Au78=',
    'bfloat16', (1, 16, 1, 1)),
         w=_array(
    'C7+ivtM+hT8Evq8/Kr+0Pmc/wT0+v2y/6r5hPoG/Vr4jvgo/XD62Pie/Bb5JP78/ob/CP6w/SD+HPqG+uz/7P+c/qD+3Ppu/'
    'krsoP6W/yj7cPjI/mL8pv9++lr/fP/6+qD6Evss/qT8iPw3AVT0vP4E/Hr/pP6m/Kb9vP0k9AEBBPiK/wb6Mv6S/IT8VP6Y/'
    'Qb/YP5O+yj/evjy/gD6EPyU+Fr+sv7O/AT99Pyi+ir9fP6S/N78fPxDAxj4Vv+A9m71PPjI/Qr+2Pzo/WD+VP0o/WD+bPbe/'
    'Cr5Fv7a/hD4Sv4S/hr+JPrg+qT9kvIU/sz+TPxfAnT+uPtk+vj7EPqQ+uL7zv9+9Tr+KP5S+qz1ZvwO/Pby+v5o+2b2YvxnA',
    'bfloat16', (1, 16, 3, 3)),
         b=None,
         gy=_array(
    'Az8=',
    'bfloat16', (1, 1, 1, 1)),
    ),
]
BOUNDS = [
    {
    'y': _array(
    '/tu32yYApz8=',
    'float64', (1, 1, 1, 1)),
    'dx': _array(
    'MF0Ak5jjMD+q5NcRxMk8P/7qNFSot1k/kjmkD7EOcD+m8FVK/iVMPzBdAJOY40A/4jcOUc3PbT9qsDbSoelhP3SFI5qAZ0w/'
    '+QOLN3IvYD8KzlM5bBBTPwrOUzlsEGM/1W6fwSiuUj88OYbp6c5iP+sfEuBYF28/kDhKnVtPaD8=',
    'float64', (1, 16, 1, 1)),
    'dw': _array(
    'EBAAEBAAkDcQEAAQEACQNxAQABAQAJA3EBAAEBAAkDeS0ECR0IAwPxAQABAQAJA3EBAAEBAAkDcQEAAQEACQNxAQABAQAJA3'
    'EBAAEBAAkDcQEAAQEACQNxAQABAQAJA3EBAAEBAAkDdYUYVWUUUxPxAQABAQAJA3EBAAEBAAkDcQEAAQEACQNxAQABAQAJA3'
    'EBAAEBAAkDcQEAAQEACQNxAQABAQAJA3EBAAEBAAkDcRFfsPFftUPxAQABAQAJA3EBAAEBAAkDcQEAAQEACQNxAQABAQAJA3'
    'EBAAEBAAkDcQEAAQEACQNxAQABAQAJA3EBAAEBAAkDefW8GcW4ErPxAQABAQAJA3EBAAEBAAkDcQEAAQEACQNxAQABAQAJA3'
    'EBAAEBAAkDcQEAAQEACQNxAQABAQAJA3EBAAEBAAkDeZ0UaY0YZRPxAQABAQAJA3EBAAEBAAkDcQEAAQEACQNxAQABAQAJA3'
    'EBAAEBAAkDcQEAAQEACQNxAQABAQAJA3EBAAEBAAkDfD12rC16pHPxAQABAQAJA3EBAAEBAAkDcQEAAQEACQNxAQABAQAJA3'
    'EBAAEBAAkDcQEAAQEACQNxAQABAQAJA3EBAAEBAAkDd0VZ1yVV1lPxAQABAQAJA3EBAAEBAAkDcQEAAQEACQNxAQABAQAJA3'
    'EBAAEBAAkDcQEAAQEACQNxAQABAQAJA3EBAAEBAAkDcWn3UUn/VePxAQABAQAJA3EBAAEBAAkDcQEAAQEACQNxAQABAQAJA3'
    'EBAAEBAAkDcQEAAQEACQNxAQABAQAJA3EBAAEBAAkDcfFwceFwdXPxAQABAQAJA3EBAAEBAAkDcQEAAQEACQNxAQABAQAJA3'
    'EBAAEBAAkDcQEAAQEACQNxAQABAQAJA3EBAAEBAAkDfPlDnOlLlkPxAQABAQAJA3EBAAEBAAkDcQEAAQEACQNxAQABAQAJA3'
    'EBAAEBAAkDcQEAAQEACQNxAQABAQAJA3EBAAEBAAkDeNFHiMFHhUPxAQABAQAJA3EBAAEBAAkDcQEAAQEACQNxAQABAQAJA3'
    'EBAAEBAAkDcQEAAQEACQNxAQABAQAJA3EBAAEBAAkDe11V601Z4VPxAQABAQAJA3EBAAEBAAkDcQEAAQEACQNxAQABAQAJA3'
    'EBAAEBAAkDcQEAAQEACQNxAQABAQAJA3EBAAEBAAkDck088i0w9zPxAQABAQAJA3EBAAEBAAkDcQEAAQEACQNxAQABAQAJA3'
    'EBAAEBAAkDcQEAAQEACQNxAQABAQAJA3EBAAEBAAkDfHHKjEHKg8PxAQABAQAJA3EBAAEBAAkDcQEAAQEACQNxAQABAQAJA3'
    'EBAAEBAAkDcQEAAQEACQNxAQABAQAJA3EBAAEBAAkDdtVJdrVFdkPxAQABAQAJA3EBAAEBAAkDcQEAAQEACQNxAQABAQAJA3'
    'EBAAEBAAkDcQEAAQEACQNxAQABAQAJA3EBAAEBAAkDcFWCwEWOxXPxAQABAQAJA3EBAAEBAAkDcQEAAQEACQNxAQABAQAJA3',
    'float64', (1, 16, 3, 3)),
},
    {
    'y': _array(
    '/tu32yYAtz8=',
    'float64', (1, 1, 1, 1)),
    'dx': _array(
    'MF0Ak5jjMD+q5NcRxMk8P/7qNFSot1k/kjmkD7EOcD+m8FVK/iVMPzBdAJOY40A/4jcOUc3PbT9qsDbSoelhP3SFI5qAZ0w/'
    '+QOLN3IvYD8KzlM5bBBTPwrOUzlsEGM/1W6fwSiuUj88OYbp6c5iP+sfEuBYF28/kDhKnVtPaD8=',
    'float64', (1, 16, 1, 1)),
    'dw': _array(
    'EBAAEBAAkDcQEAAQEACQNxAQABAQAJA3EBAAEBAAkDeS0ECR0IBAPxAQABAQAJA3EBAAEBAAkDcQEAAQEACQNxAQABAQAJA3'
    'EBAAEBAAkDcQEAAQEACQNxAQABAQAJA3EBAAEBAAkDdYUYVWUUVBPxAQABAQAJA3EBAAEBAAkDcQEAAQEACQNxAQABAQAJA3'
    'EBAAEBAAkDcQEAAQEACQNxAQABAQAJA3EBAAEBAAkDcRFfsPFftkPxAQABAQAJA3EBAAEBAAkDcQEAAQEACQNxAQABAQAJA3'
    'EBAAEBAAkDcQEAAQEACQNxAQABAQAJA3EBAAEBAAkDefW8GcW4E7PxAQABAQAJA3EBAAEBAAkDcQEAAQEACQNxAQABAQAJA3'
    'EBAAEBAAkDcQEAAQEACQNxAQABAQAJA3EBAAEBAAkDeZ0UaY0YZhPxAQABAQAJA3EBAAEBAAkDcQEAAQEACQNxAQABAQAJA3'
    'EBAAEBAAkDcQEAAQEACQNxAQABAQAJA3EBAAEBAAkDfD12rC16pXPxAQABAQAJA3EBAAEBAAkDcQEAAQEACQNxAQABAQAJA3'
    'EBAAEBAAkDcQEAAQEACQNxAQABAQAJA3EBAAEBAAkDd0VZ1yVV11PxAQABAQAJA3EBAAEBAAkDcQEAAQEACQNxAQABAQAJA3'
    'EBAAEBAAkDcQEAAQEACQNxAQABAQAJA3EBAAEBAAkDcWn3UUn/VuPxAQABAQAJA3EBAAEBAAkDcQEAAQEACQNxAQABAQAJA3'
    'EBAAEBAAkDcQEAAQEACQNxAQABAQAJA3EBAAEBAAkDcfFwceFwdnPxAQABAQAJA3EBAAEBAAkDcQEAAQEACQNxAQABAQAJA3'
    'EBAAEBAAkDcQEAAQEACQNxAQABAQAJA3EBAAEBAAkDfPlDnOlLl0PxAQABAQAJA3EBAAEBAAkDcQEAAQEACQNxAQABAQAJA3'
    'EBAAEBAAkDcQEAAQEACQNxAQABAQAJA3EBAAEBAAkDeNFHiMFHhkPxAQABAQAJA3EBAAEBAAkDcQEAAQEACQNxAQABAQAJA3'
    'EBAAEBAAkDcQEAAQEACQNxAQABAQAJA3EBAAEBAAkDe11V601Z4lPxAQABAQAJA3EBAAEBAAkDcQEAAQEACQNxAQABAQAJA3'
    'EBAAEBAAkDcQEAAQEACQNxAQABAQAJA3EBAAEBAAkDck088i0w+DPxAQABAQAJA3EBAAEBAAkDcQEAAQEACQNxAQABAQAJA3'
    'EBAAEBAAkDcQEAAQEACQNxAQABAQAJA3EBAAEBAAkDfHHKjEHKhMPxAQABAQAJA3EBAAEBAAkDcQEAAQEACQNxAQABAQAJA3'
    'EBAAEBAAkDcQEAAQEACQNxAQABAQAJA3EBAAEBAAkDdtVJdrVFd0PxAQABAQAJA3EBAAEBAAkDcQEAAQEACQNxAQABAQAJA3'
    'EBAAEBAAkDcQEAAQEACQNxAQABAQAJA3EBAAEBAAkDcFWCwEWOxnPxAQABAQAJA3EBAAEBAAkDcQEAAQEACQNxAQABAQAJA3',
    'float64', (1, 16, 3, 3)),
},
]


def judge(name, got, want, bound):
    """|got - want| <= bound elementwise, NaN/Inf positions equal (float64 arrays): what is wrong, if anything."""
    if np.shape(got) != np.shape(want) or np.shape(bound) != np.shape(want):    # the bound has the case's output shape
        return [f"{name}: shape {np.shape(got)} against {np.shape(want)}, expected {np.shape(bound)}"]
    if not (np.isnan(got) == np.isnan(want)).all() or not (np.isinf(got) == np.isinf(want)).all():
        first = np.argwhere((np.isnan(got) != np.isnan(want)) | (np.isinf(got) != np.isinf(want)))[0]
        first = tuple(int(i) for i in first)
        return [f"{name}: NaN/Inf positions differ, first at {first}: got {got[first]}, expected {want[first]}"]
    finite = np.isfinite(want)
    err = np.where(finite, np.abs(got - np.where(finite, want, 0)), 0)
    over = err > bound
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(err == 0, 0, err / bound)
    worst = np.unravel_index(int(np.argmax(ratio)), ratio.shape)
    print(f"{name}: max error/bound {ratio[worst]:.3g} at {tuple(int(i) for i in worst)} (got {float(got[worst])!r}, "
          f"expected {float(want[worst])!r}, bound {bound[worst]:.3g}); {int(over.sum())}/{over.size} over the bound")
    if over.any():
        return [f"{name}: {int(over.sum())}/{over.size} elements over the bound, worst error/bound {ratio[worst]:.3g}"]
    return []



class Run:
    """One call of the relation: float64 inputs, the library's outputs (float64), the declared bound."""

    def __init__(self, call, out, bound):
        self.x, self.w, self.b, self.gy = (None if call[k] is None else np.asarray(call[k], dtype=np.float64)
                                           for k in ("x", "w", "b", "gy"))
        self.out = {k: None if v is None else np.asarray(v, dtype=np.float64) for k, v in out.items()}
        self.bound = bound


def main():
    print("library:", LIBRARY)
    print("case:", DESCRIPTOR, "relation:", RELATION)
    use_threads()
    runs = []
    for call, bound in zip(CALLS, BOUNDS):
        try:
            out = run_torch(call["x"], call["w"], call["b"], call["gy"] if call["backward"] else None, call["stride"],
                        call["padding"], call["dilation"], call["groups"])
        except ImportError as exc:
            print(f"cannot run: {exc} (install the library named above)")
            return 2
        except Exception as exc:
            print(f"REPRODUCED: the library raised {type(exc).__name__}: {exc}")
            return 1
        runs.append(Run(call, out, bound))
    try:
        sides = homogeneity_sides(runs, **PARAMS)
    except (KeyError, ValueError, TypeError, IndexError) as exc:
        print(f"REPRODUCED: the library's outputs do not fit the relation: {type(exc).__name__}: {exc}")
        return 1
    found = []
    for name, one, other, bound in sides:
        found += judge(name, np.asarray(one, dtype=np.float64), np.asarray(other, dtype=np.float64), bound)
    if found:
        print("REPRODUCED: " + "; ".join(found))
        return 1
    print("not reproduced: both sides of every check agree within their bounds")
    return 0


if __name__ == "__main__":
    sys.exit(main())
