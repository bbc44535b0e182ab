"""Standalone reproduction scripts for findings in framework candidates.

A script holds the failing case's arrays (exact bytes), the candidate's own ``run`` function
(its source, which imports only the library and NumPy), a float64 direct-convolution
reference written with NumPy (:func:`reference64`, copied too) and the bound the harness used.
It imports nothing from conv-oracle, so it can go into a library's bug tracker as it is.
The arrays are NCHW/OIHW; the script hands them to the candidate in its declared layout (NHWC x and gy,
HWIO w for an NHWC candidate such as TensorFlow's) and judges its outputs back in NCHW/OIHW, as the harness does.
A relation finding's script (:func:`relation_script`) holds instead every case the relation calls
the library on, the declared bound of each, and the relation's own sides function
(``conv_oracle.relations.*_sides``, its source): it re-checks the relation that failed, not the
float64 reference (a relation can fail where every output passes the reference).
Run it with ``python SCRIPT``: exit 1 and ``REPRODUCED`` when the finding shows, 0 when not,
2 when the library cannot be imported. A script runs with the threads of the worker the finding
ran in (:func:`conv_oracle.environment.threads`, recorded by the worker: the thread variables,
set before NumPy or the library loads, and torch's intra-op threads) and prints them. The
frameworks report runs each script once under the other limits its case had in the worker
(``frameworks_report.run_reproduction``: the case timeout, the worker's resident-memory ceiling)
and records them with the outcome; what a script cannot have is the worker's history (the cases
run before it in that process: memory a library reads uninitialised holds what they left).
"""
from __future__ import annotations

import base64
import inspect
import textwrap

import numpy as np

from .spec import ConvSpec


def reference64(x, w, b, gy, stride, padding, dilation, groups):
    """float64 conv2d (cross-correlation, NCHW / OIHW) and its gradients by direct summation,
    with the magnitudes S = the same sums over |x|, |w|, |b|, |gy| (what error bounds scale with)."""
    import numpy as np

    def conv(x, w, b, gy):
        (pt, pb), (pl, pr) = padding
        (sh, sw), (dh, dw_) = stride, dilation
        xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
        n, c, hp, wp = xp.shape
        f, cg, kh, kw = w.shape
        fg = f // groups
        ho, wo = (hp - dh * (kh - 1) - 1) // sh + 1, (wp - dw_ * (kw - 1) - 1) // sw + 1
        y = np.zeros((n, f, ho, wo))
        dxp, dwt = np.zeros_like(xp), np.zeros_like(w)
        for g in range(groups):
            cs, fs = slice(g * cg, (g + 1) * cg), slice(g * fg, (g + 1) * fg)
            for i in range(kh):
                for j in range(kw):
                    rows = slice(i * dh, i * dh + sh * (ho - 1) + 1, sh)
                    cols = slice(j * dw_, j * dw_ + sw * (wo - 1) + 1, sw)
                    tap = xp[:, cs, rows, cols]                                  # (N, C/g, Ho, Wo)
                    y[:, fs] += np.einsum("nchw,fc->nfhw", tap, w[fs, :, i, j])
                    if gy is not None:
                        dxp[:, cs, rows, cols] += np.einsum("nfhw,fc->nchw", gy[:, fs], w[fs, :, i, j])
                        dwt[fs, :, i, j] = np.einsum("nfhw,nchw->fc", gy[:, fs], tap)
        out = {"y": y + (0 if b is None else b[None, :, None, None])}
        if gy is not None:
            out["dx"], out["dw"] = dxp[:, :, pt:pt + x.shape[2], pl:pl + x.shape[3]], dwt
            if b is not None:
                out["db"] = gy.sum(axis=(0, 2, 3))
        return out

    def f64(a):
        return None if a is None else np.asarray(a, dtype=np.float64)

    x, w, b, gy = f64(x), f64(w), f64(b), f64(gy)
    truth = conv(x, w, b, gy)
    with np.errstate(invalid="ignore"):
        scale = conv(np.abs(x), np.abs(w), None if b is None else np.abs(b), None if gy is None else np.abs(gy))
    return truth, scale


def _encode(a: np.ndarray | None) -> str:
    if a is None:
        return "None"
    data = base64.b64encode(np.ascontiguousarray(a).tobytes()).decode()
    lines = "\n".join(f"    {data[i:i + 96]!r}" for i in range(0, len(data), 96)) or "    ''"
    return f"_array(\n{lines},\n    {a.dtype.name!r}, {tuple(a.shape)!r})"


_HEADER = '''#!/usr/bin/env python3
"""{title}

{body}

Run: python {filename}   (exit 1 and REPRODUCED when the finding shows, 0 when not, 2 without the
library; needs only {needs} and NumPy)
"""
import base64
import os
import sys

ENVIRONMENT = {environment!r}   # the library settings the candidate declares, set before its import
# the threads the finding ran with, in the harness's worker: variables set before any library loads
# (NumPy's BLAS included); TORCH_THREADS: torch's intra-op threads, set again after its import
THREADS = {threads!r}
TORCH_THREADS = {torch_threads!r}
CPUS = {cpus!r}   # CPUs the worker could run on
os.environ.update(ENVIRONMENT)
os.environ.update(THREADS)

import numpy as np  # noqa: E402  (after the thread variables: its BLAS sizes its pool when it loads)

'''

_THREADS_HELPER = '''
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

'''

_ARRAY_HELPER = '''
def _array(data, dtype, shape):
    if dtype == "bfloat16":
        import ml_dtypes  # NumPy's bfloat16 (installed with JAX and torch)
        dtype = ml_dtypes.bfloat16
    return np.frombuffer(base64.b64decode("".join(data)), dtype=dtype).reshape(shape).copy()

'''

_CALL_HELPER = '''
def call_library(x, w, b, gy, stride, padding, dilation, groups):
    """The candidate on NCHW/OIHW arrays, handed over in its LAYOUT (contiguous, as conv-oracle does):
    (its outputs in NCHW/OIHW, None), or (None, the exit status) when it cannot be imported or raises."""
    xl, wl, gyl = (None if a is None else np.ascontiguousarray(a) for a in _to_layout(LAYOUT, x, w, gy))
    try:
        return _from_layout(LAYOUT, RUN(xl, wl, b, gyl, stride, padding, dilation, groups, **OPTIONS)), None
    except ImportError as exc:
        print(f"cannot run: {exc} (install the library named above)")
        return None, 2
    except Exception as exc:
        print(f"REPRODUCED: the library raised {type(exc).__name__}: {exc}")
        return None, 1

'''

_JUDGE = '''

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

'''

_MAIN = '''

def main():
    x, w, b, gy = X, W, B, GY
    backward = {backward!r}
    print("library:", LIBRARY)
    print("case:", DESCRIPTOR)
    use_threads()
    out, status = call_library(x, w, b, gy if backward else None, STRIDE, PADDING, DILATION, GROUPS)
    if status is not None:
        return status
    truth, scale = reference64(x, w, b, gy if backward else None, STRIDE, PADDING, DILATION, GROUPS)
    found = []
    for name, bound in BOUNDS.items():
        got, want = out.get(name), truth[name]
        if got is None or np.shape(got) != want.shape or np.asarray(got).dtype != x.dtype:
            found.append(f"{{name}}: shape {{np.shape(got)}} dtype {{getattr(got, 'dtype', None)}}, "
                         f"expected {{want.shape}} {{x.dtype}}")
            continue
        found += judge(name, np.asarray(got, dtype=np.float64), want, bound)
    if found:
        print("REPRODUCED: " + "; ".join(found))
        return 1
    print("not reproduced: every checked output within its bound, NaN/Inf positions equal")
    return 0


if __name__ == "__main__":
    sys.exit(main())
'''

_RELATION_MAIN = '''

class Run:
    """One call of the relation: float64 inputs, the library's outputs (float64), the declared bound."""

    def __init__(self, call, out, bound):
        self.x, self.w, self.b, self.gy = (None if call[k] is None else np.asarray(call[k], dtype=np.float64)
                                           for k in ("x", "w", "b", "gy"))
        self.out = {{k: None if v is None else np.asarray(v, dtype=np.float64) for k, v in out.items()}}
        self.bound = bound


def main():
    print("library:", LIBRARY)
    print("case:", DESCRIPTOR, "relation:", RELATION)
    use_threads()
    runs = []
    for call, bound in zip(CALLS, BOUNDS):
        out, status = call_library(call["x"], call["w"], call["b"], call["gy"] if call["backward"] else None,
                                   call["stride"], call["padding"], call["dilation"], call["groups"])
        if status is not None:
            return status
        runs.append(Run(call, out, bound))
    try:
        sides = {sides}(runs, **PARAMS)
    except (KeyError, ValueError, TypeError, IndexError) as exc:
        print(f"REPRODUCED: the library's outputs do not fit the relation: {{type(exc).__name__}}: {{exc}}")
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
'''


def script(plugin, spec: ConvSpec, arrays, backward: bool, bounds: dict, *, kind: str, triage: str,
           versions: dict, environment: str, filename: str, threads: dict | None = None) -> str:
    """The text of a standalone reproduction of one finding.

    ``arrays``: the case's inputs (CaseArrays, NCHW/OIHW, in the case's dtype); ``bounds``: the
    total bound the harness used per checked output (float64 arrays of the outputs' shapes);
    ``plugin``: a framework candidate with ``standalone`` functions and ``run``/``options``;
    ``threads``: :func:`conv_oracle.environment.threads` of the worker the finding ran in, which
    the script re-runs with (None: one BLAS/OpenMP thread)."""
    parts = [_header(plugin, spec, kind, triage, versions, environment, filename, threads, [
        f"Case {spec.descriptor()} ({'forward and backward' if backward else 'forward'}), failure kind: {kind}.",
        f"Declared error model: {plugin.error_model.describe()}; BOUNDS below is that model's bound plus the",
        "float64 reference's own error, per element, as computed by conv-oracle.",
        "The reference is a float64 direct sum over the same (rounded) inputs."])]
    parts.append("\n" + textwrap.dedent(inspect.getsource(reference64)) + "\n")
    parts.append(f"STRIDE, PADDING, DILATION, GROUPS = {tuple(spec.stride)!r}, {tuple(map(tuple, spec.padding))!r}, "
                 f"{tuple(spec.dilation)!r}, {spec.groups!r}\n")
    for name, a in (("X", arrays.x), ("W", arrays.w), ("B", arrays.b), ("GY", arrays.gy)):
        parts.append(f"{name} = {_encode(a)}\n")
    parts.append("BOUNDS = " + _encode_bounds(bounds) + "\n")
    parts.append(_JUDGE)
    parts.append(_MAIN.format(backward=backward))
    return "".join(parts)


def _encode_bounds(bounds: dict | None) -> str:
    if bounds is None:
        return "None"
    return "{\n" + "".join(f"    {o!r}: {_encode(np.asarray(v, dtype=np.float64))},\n" for o, v in bounds.items()) + "}"


def _header(plugin, spec: ConvSpec, kind: str, triage: str, versions: dict, environment: str, filename: str,
            threads: dict | None, lines: list[str]) -> str:
    from .environment import thread_environment
    from .isolation import ONE_THREAD_ENVIRONMENT

    if threads is None:   # no worker's record: one BLAS/OpenMP thread, as run_reproduction runs it then
        threads = {"cpus": None, "torch": None, "pools": [], "variables": dict(ONE_THREAD_ENVIRONMENT)}
    uses_torch = "torch" in getattr(plugin, "requires", ())
    torch_threads = (threads.get("torch") or {}).get("intra_op") if uses_torch else None
    needs = ", ".join(f"{k} {v}" for k, v in versions.items()) or "the library"
    body = "\n".join([
        f"Candidate {plugin.name}: {plugin.description}",
        *lines[:1],
        f"Triage: {triage}",
        f"Library: {needs}. Machine: {environment}.",
        *lines[1:],
    ])
    return (_HEADER.format(title=f"Reproduction: {plugin.name} {spec.descriptor()} ({kind})", body=body,
                           filename=filename, needs=needs, environment=dict(plugin.environment),
                           threads=thread_environment(threads, torch=uses_torch), torch_threads=torch_threads,
                           cpus=threads.get("cpus"))
            + _THREADS_HELPER + _ARRAY_HELPER + "".join(textwrap.dedent(inspect.getsource(f)) + "\n" for f in plugin.standalone)
            + _call_part(plugin) + f"LIBRARY = {needs!r}\nDESCRIPTOR = {spec.descriptor()!r}\n")


def _call_part(plugin) -> str:
    """How the script calls the candidate: RUN, OPTIONS, LAYOUT and the harness's own layout conversions
    (their source). A script's arrays are NCHW/OIHW; an NHWC candidate takes NHWC x and gy and HWIO w and
    returns NHWC y and dx and HWIO dw."""
    from .runner import _from_layout, _to_layout

    return (f"RUN = {plugin.run_function().__name__}\nOPTIONS = {dict(plugin.options)!r}\n"
            f"LAYOUT = {plugin.layout!r}   # the candidate's layout\n\n"
            + "".join(textwrap.dedent(inspect.getsource(f)) + "\n\n" for f in (_to_layout, _from_layout))
            + _CALL_HELPER)


def relation_script(plugin, relation: str, spec: ConvSpec, seed: int, *, bounds_of, kind: str, triage: str,
                    versions: dict, environment: str, filename: str, threads: dict | None = None) -> str:
    """The text of a standalone reproduction of a relation finding: the library called on each case
    the relation ``relation`` makes from ``(spec, seed)`` (exact bytes), and the relation itself
    re-checked on what it returns, by the relation's own sides function (its source, copied).
    ``bounds_of(spec, arrays)``: the plugin's declared bound on one call's case (from magnitudes,
    no oracle answer); None in the script when the model gives none (the finding is then the model's)."""
    from . import bounds as B
    from . import relations as R

    plan, sides = R.PARTS[relation]
    calls, params = plan(spec, seed)
    parts = [_header(plugin, spec, kind, triage, versions, environment, filename, threads, [
        f"Relation {relation} (oracle-free) on case {spec.descriptor()}, seed {seed}, failure kind: {kind}:",
        f"{textwrap.dedent(sides.__doc__ or '').strip()}",
        f"The library is called on the {len(calls)} case(s) of the relation; each side of a check is held",
        f"to the declared error model ({plugin.error_model.describe()})",
        "on its cases, the bounds summed: BOUNDS below, one per call, as computed by conv-oracle."])]
    parts.append(f"RELATION = {relation!r}\n")
    parts.append(f"UNIT_ROUNDOFF = {{{B.REFERENCE_DTYPE!r}: {B.UNIT_ROUNDOFF[B.REFERENCE_DTYPE]!r}}}\n"
                 f"REFERENCE_DTYPE = {B.REFERENCE_DTYPE!r}\n")
    for helper in (B.gamma, B.adjoint_limit, R.subnormal_doubling, sides):
        parts.append("\n" + textwrap.dedent(inspect.getsource(helper)) + "\n")
    parts.append(f"PARAMS = {params!r}\nCALLS = [\n")
    encoded_bounds = []
    for s, arrays, backward in calls:
        parts.append(f"    dict(stride={tuple(s.stride)!r}, padding={tuple(map(tuple, s.padding))!r}, "
                     f"dilation={tuple(s.dilation)!r}, groups={s.groups!r}, backward={backward!r},\n")
        parts.append("".join(f"         {k}={_encode(a)},\n" for k, a in
                             (("x", arrays.x), ("w", arrays.w), ("b", arrays.b), ("gy", arrays.gy))) + "    ),\n")
        try:
            encoded_bounds.append(_encode_bounds(bounds_of(s, arrays)))
        except B.ModelBoundError:
            encoded_bounds.append("None")
    parts.append("]\nBOUNDS = [\n" + "".join(f"    {b},\n" for b in encoded_bounds) + "]\n")
    parts.append(_JUDGE)
    parts.append(_RELATION_MAIN.format(sides=sides.__name__))
    return "".join(parts)
