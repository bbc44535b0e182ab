"""Oracle-free checks: properties an implementation must satisfy on its own outputs.

* the adjoint identity <conv(x,w), g> = <x, dx(g)> = <w, dw(g)> (bias term split off);
* metamorphic relations: stride = subsampled stride-1 result; groups = concatenated
  per-group convolutions; dilation = zero-inserted kernel; exact homogeneity under
  scaling by 2; batch independence.

No oracle answer is used. Each side's error is bounded by the implementation's own error
model (magnitudes from the float64 absolute-value convolution), so a relation fails only
when the two sides differ by more than both bounds together.
"""
from __future__ import annotations

import numpy as np

from . import bounds as B
from .cases import CaseArrays, make_arrays
from .compare import Verdict, compare_output
from .plugin import ConvPlugin
from .spec import ConvSpec


class RelationError(Exception):
    """The plugin failed on one of a relation's calls (raised, refused, mutated an input...)."""

    def __init__(self, kind: str, detail: str):
        super().__init__(f"{kind}: {detail}")
        self.kind, self.detail = kind, detail


class Calls:
    """How a relation calls the plugin: through the campaign's executor (a worker process
    with a timeout) or in process, with the same checks as an oracle case."""

    def __init__(self, plugin: ConvPlugin, executor=None):
        from .runner import execute

        self.plugin = plugin
        self.run = executor or (lambda spec, arrays, backward: execute(plugin, spec, arrays, backward))

    def __call__(self, spec: ConvSpec, arrays: CaseArrays, backward: bool = True) -> dict[str, np.ndarray]:
        done = self.run(spec, arrays, backward)
        if done.error_kind:
            raise RelationError(done.error_kind, f"on {spec.descriptor()}: {done.error}")
        if done.aliased or done.mutated:
            raise RelationError("aliases-input" if done.aliased else "mutated-input", f"on {spec.descriptor()}")
        return {k: (None if v is None else np.asarray(v, dtype=np.float64)) for k, v in done.out.items()}

    def bounds(self, spec: ConvSpec, arrays: CaseArrays) -> dict[str, np.ndarray]:
        """The plugin's declared (checked) bound on this case, from magnitudes only."""
        from .oracles import torch_oracle

        a64 = arrays.as_float64()
        scale = torch_oracle.magnitudes(spec, a64.x, a64.w, a64.b, a64.gy)   # no oracle answer is used
        return B.checked_model_bounds(self.plugin.error_model, B.bound_context(spec, a64, scale))


def _within(name: str, a: np.ndarray, b: np.ndarray, bound: np.ndarray) -> Verdict:
    """|a - b| <= bound elementwise, with the same exact shape checks as the oracle comparison."""
    return compare_output(name, a, b, bound, "float64")


def adjoint(call: Calls, spec: ConvSpec, seed: int) -> list[Verdict]:
    arrays = make_arrays(spec, seed)
    a64 = arrays.as_float64()
    out = call(spec, arrays)
    bnd = call.bounds(spec, arrays)
    bias_term = float(np.dot(a64.b, out["db"])) if spec.bias else 0.0
    bias_err = float(np.dot(np.abs(a64.b), bnd["db"])) if spec.bias else 0.0
    pairs = {  # inner product, its error bound from the model, and the magnitude of its terms
        "<y,g>-<b,db>": (np.vdot(out["y"], a64.gy) - bias_term,
                         np.vdot(bnd["y"], np.abs(a64.gy)) + bias_err, np.vdot(np.abs(out["y"]), np.abs(a64.gy))),
        "<x,dx>": (np.vdot(a64.x, out["dx"]), np.vdot(np.abs(a64.x), bnd["dx"]), np.vdot(np.abs(a64.x), np.abs(out["dx"]))),
        "<w,dw>": (np.vdot(a64.w, out["dw"]), np.vdot(np.abs(a64.w), bnd["dw"]), np.vdot(np.abs(a64.w), np.abs(out["dw"]))),
    }
    m = max(a64.gy.size, a64.x.size, a64.w.size) + 1
    names = list(pairs)
    ref_value, ref_err, ref_mag = pairs[names[0]]
    verdicts = []
    for other in names[1:]:
        value, err, mag = pairs[other]
        limit = B.adjoint_limit(ref_err, err, ref_mag, mag, m)
        verdicts.append(_within(f"adjoint {names[0]} = {other}", np.array([ref_value]), np.array([value]),
                                np.array([limit])))
    return verdicts


def stride_subsampling(call: Calls, spec: ConvSpec, seed: int) -> list[Verdict]:
    """y with stride s equals y with stride 1, sampled every s pixels."""
    unit = spec.replace(stride=(1, 1))
    arrays = make_arrays(spec, seed)
    y_s = call(spec, arrays, False)["y"]
    unit_arrays = CaseArrays(arrays.x, arrays.w, arrays.b, make_arrays(unit, seed).gy)
    y_1 = call(unit, unit_arrays, False)["y"]
    ho, wo = spec.out_hw
    sh, sw = spec.stride
    bound = call.bounds(spec, arrays)["y"] + call.bounds(unit, unit_arrays)["y"][:, :, ::sh, ::sw][:, :, :ho, :wo]
    return [_within("stride = subsampled stride 1", y_s, y_1[:, :, ::sh, ::sw][:, :, :ho, :wo], bound)]


def group_concatenation(call: Calls, spec: ConvSpec, seed: int) -> list[Verdict]:
    """A grouped conv equals the per-group convs concatenated along channels."""
    g, cg, fg = spec.groups, spec.c // spec.groups, spec.f // spec.groups
    arrays = make_arrays(spec, seed)
    y = call(spec, arrays, False)["y"]
    parts, part_bounds = [], []
    one = spec.replace(c=cg, f=fg, groups=1)
    for k in range(g):
        sub = CaseArrays(np.ascontiguousarray(arrays.x[:, k * cg:(k + 1) * cg]), arrays.w[k * fg:(k + 1) * fg].copy(),
                         None if arrays.b is None else arrays.b[k * fg:(k + 1) * fg].copy(),
                         np.ascontiguousarray(arrays.gy[:, k * fg:(k + 1) * fg]))
        parts.append(call(one, sub, False)["y"])
        part_bounds.append(call.bounds(one, sub)["y"])
    bound = call.bounds(spec, arrays)["y"] + np.concatenate(part_bounds, axis=1)
    return [_within("groups = concatenated per-group convs", y, np.concatenate(parts, axis=1), bound)]


def dilation_zero_insertion(call: Calls, spec: ConvSpec, seed: int) -> list[Verdict]:
    """Dilation d equals dilation 1 with a kernel that has d-1 zeros between taps."""
    (dh, dw) = spec.dilation
    kh, kw = dh * (spec.kh - 1) + 1, dw * (spec.kw - 1) + 1
    dense = spec.replace(kh=kh, kw=kw, dilation=(1, 1))
    arrays = make_arrays(spec, seed)
    w_dense = np.zeros(dense.w_shape, dtype=arrays.w.dtype)
    w_dense[:, :, ::dh, ::dw] = arrays.w
    dense_arrays = CaseArrays(arrays.x, w_dense, arrays.b, arrays.gy)
    y_d = call(spec, arrays, False)["y"]
    y_z = call(dense, dense_arrays, False)["y"]
    bound = call.bounds(spec, arrays)["y"] + call.bounds(dense, dense_arrays)["y"]
    return [_within("dilation = zero-inserted kernel", y_d, y_z, bound)]


def homogeneity(call: Calls, spec: ConvSpec, seed: int) -> list[Verdict]:
    """Scaling x and b by 2 scales y, dw and db by exactly 2 (powers of two round exactly)."""
    arrays = make_arrays(spec, seed)
    doubled = CaseArrays(arrays.x * 2, arrays.w, None if arrays.b is None else arrays.b * 2, arrays.gy)
    base, twice = call(spec, arrays), call(spec, doubled)
    verdicts = []
    for o in ("y", "dw") + (("db",) if spec.bias else ()):
        factor = 1.0 if o == "db" else 2.0            # db depends on gy only
        bound = np.zeros_like(base[o]) if o == "db" else _subnormal_doubling(spec.dtype, base[o])
        verdicts.append(_within(f"homogeneity {o}(2x) = {factor:g}*{o}(x)", twice[o], factor * base[o], bound))
    return verdicts


def _subnormal_doubling(dtype: str, base: np.ndarray) -> np.ndarray:
    """Doubling commutes with rounding to the storage format except on its subnormal grid.
    Where |round(s)| <= tiny (the smallest normal, 2^emin), s itself is at most tiny and
    |2 round(s) - 2s| <= 2 eta, while 2s < 2 tiny rounds with a spacing of at most 4 eta:
    |round(2s) - 2s| <= 2 eta. So |round(2s) - 2 round(s)| <= 4 eta there, and 0 elsewhere.
    (A float16 dw of 6e-5 is subnormal; its double is not: exactness is not owed there.)"""
    tiny, eta = 2.0 ** B.FORMATS[dtype][1], B.UNDERFLOW_UNIT[dtype]
    return np.where(np.abs(base) <= tiny, 4 * eta, 0.0)


def batch_independence(call: Calls, spec: ConvSpec, seed: int) -> list[Verdict]:
    """Each image's output depends on that image alone."""
    arrays = make_arrays(spec, seed)
    y = call(spec, arrays, False)["y"]
    single = spec.replace(n=1)
    rows, row_bounds = [], []
    for i in range(spec.n):
        sub = CaseArrays(np.ascontiguousarray(arrays.x[i:i + 1]), arrays.w, arrays.b, np.ascontiguousarray(arrays.gy[i:i + 1]))
        rows.append(call(single, sub, False)["y"])
        row_bounds.append(call.bounds(single, sub)["y"])
    bound = call.bounds(spec, arrays)["y"] + np.concatenate(row_bounds)
    return [_within("batch independence", y, np.concatenate(rows), bound)]


RELATIONS = {
    "adjoint": adjoint,
    "stride": stride_subsampling,
    "groups": group_concatenation,
    "dilation": dilation_zero_insertion,
    "homogeneity": homogeneity,
    "batch": batch_independence,
}


def applies(name: str, capabilities) -> str:
    """Why relation ``name`` cannot be checked for these capabilities ("" when it can)."""
    if name in ("adjoint", "homogeneity") and not capabilities.backward:
        return f"{name} needs dx/dw; no backward declared"
    if name == "stride" and capabilities.max_stride == 1:
        return "stride 1 only declared"
    if name == "groups" and not capabilities.groups:
        return "no groups declared"
    if name == "dilation" and capabilities.max_dilation == 1:
        return "no dilation declared"
    return ""


def spec_applies(name: str, capabilities, spec: ConvSpec) -> bool:
    """Whether a drawn spec can carry the relation (the zero-inserted kernel must be supported,
    the backward pass declared for this spec where the relation needs dx/dw)."""
    if name in ("adjoint", "homogeneity") and capabilities.backward_reasons(spec):
        return False
    if name == "dilation":
        dense = spec.replace(kh=spec.dilation[0] * (spec.kh - 1) + 1,
                             kw=spec.dilation[1] * (spec.kw - 1) + 1, dilation=(1, 1))
        return not capabilities.unsupported_reasons(dense)
    return True
