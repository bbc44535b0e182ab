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

from functools import cached_property, partial

import numpy as np

from . import bounds as B
from .bounds import adjoint_limit
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


class Run:
    """One call a relation makes: the case (spec, arrays in the case's dtype, direction), the
    plugin's outputs in float64, the inputs in float64 and, on first use, the plugin's declared
    bound on that case (``bounds_of(spec, arrays)``). A standalone reproduction holds the same
    attributes, so the relations' ``*_sides`` functions run there unchanged."""

    def __init__(self, spec: ConvSpec, arrays: CaseArrays, backward: bool, out: dict, bounds_of):
        self.spec, self.arrays, self.backward, self.out = spec, arrays, backward, out
        self._bounds_of = bounds_of

    @cached_property
    def bound(self) -> dict[str, np.ndarray]:
        return self._bounds_of(self.spec, self.arrays)

    @cached_property
    def _float64(self) -> CaseArrays:
        return self.arrays.as_float64()

    x = property(lambda self: self._float64.x)
    w = property(lambda self: self._float64.w)
    b = property(lambda self: self._float64.b)
    gy = property(lambda self: self._float64.gy)


# ---- each relation: the calls it makes (``*_plan``) and what it compares (``*_sides``) ------------
# A plan is (calls, params): calls a list of (spec, arrays, backward), params the keyword arguments
# of the sides function. A sides function takes the Runs of those calls and returns
# (name, one side, the other side, bound) per check; it uses NumPy and its arguments only (plus
# ``adjoint_limit``, ``gamma`` and ``subnormal_doubling``): reproduction scripts copy its source.
def adjoint_plan(spec: ConvSpec, seed: int):
    return [(spec, make_arrays(spec, seed), True)], {"bias": spec.bias}


def adjoint_sides(runs, bias):
    """<conv(x,w), g> = <x, dx(g)> = <w, dw(g)>, the bias term <b, db> split off."""
    r = runs[0]
    out, bnd = r.out, r.bound
    bias_term = float(np.dot(r.b, out["db"])) if bias else 0.0
    bias_err = float(np.dot(np.abs(r.b), bnd["db"])) if bias else 0.0
    pairs = {  # inner product, its error bound from the model, and the magnitude of its terms
        "<y,g>-<b,db>": (np.vdot(out["y"], r.gy) - bias_term,
                         np.vdot(bnd["y"], np.abs(r.gy)) + bias_err, np.vdot(np.abs(out["y"]), np.abs(r.gy))),
        "<x,dx>": (np.vdot(r.x, out["dx"]), np.vdot(np.abs(r.x), bnd["dx"]), np.vdot(np.abs(r.x), np.abs(out["dx"]))),
        "<w,dw>": (np.vdot(r.w, out["dw"]), np.vdot(np.abs(r.w), bnd["dw"]), np.vdot(np.abs(r.w), np.abs(out["dw"]))),
    }
    m = max(r.gy.size, r.x.size, r.w.size) + 1
    names = list(pairs)
    ref_value, ref_err, ref_mag = pairs[names[0]]
    sides = []
    for other in names[1:]:
        value, err, mag = pairs[other]
        limit = adjoint_limit(ref_err, err, ref_mag, mag, m)
        sides.append((f"adjoint {names[0]} = {other}", np.array([ref_value]), np.array([value]), np.array([limit])))
    return sides


def stride_plan(spec: ConvSpec, seed: int):
    unit = spec.replace(stride=(1, 1))
    arrays = make_arrays(spec, seed)
    unit_arrays = CaseArrays(arrays.x, arrays.w, arrays.b, make_arrays(unit, seed).gy)
    return [(spec, arrays, False), (unit, unit_arrays, False)], {"stride": tuple(spec.stride),
                                                                "out_hw": tuple(spec.out_hw)}


def stride_sides(runs, stride, out_hw):
    """y with stride s equals y with stride 1, sampled every s pixels."""
    (ho, wo), (sh, sw) = out_hw, stride
    strided, unit = runs
    sampled = unit.out["y"][:, :, ::sh, ::sw][:, :, :ho, :wo]
    bound = strided.bound["y"] + unit.bound["y"][:, :, ::sh, ::sw][:, :, :ho, :wo]
    return [("stride = subsampled stride 1", strided.out["y"], sampled, bound)]


def groups_plan(spec: ConvSpec, seed: int):
    g, cg, fg = spec.groups, spec.c // spec.groups, spec.f // spec.groups
    arrays = make_arrays(spec, seed)
    one = spec.replace(c=cg, f=fg, groups=1)
    calls = [(spec, arrays, False)]
    for k in range(g):
        calls.append((one, CaseArrays(np.ascontiguousarray(arrays.x[:, k * cg:(k + 1) * cg]),
                                      arrays.w[k * fg:(k + 1) * fg].copy(),
                                      None if arrays.b is None else arrays.b[k * fg:(k + 1) * fg].copy(),
                                      np.ascontiguousarray(arrays.gy[:, k * fg:(k + 1) * fg])), False))
    return calls, {}


def groups_sides(runs):
    """A grouped conv equals the per-group convs concatenated along channels."""
    whole, parts = runs[0], runs[1:]
    bound = whole.bound["y"] + np.concatenate([p.bound["y"] for p in parts], axis=1)
    return [("groups = concatenated per-group convs", whole.out["y"], np.concatenate([p.out["y"] for p in parts], axis=1),
             bound)]


def dilation_plan(spec: ConvSpec, seed: int):
    (dh, dw) = spec.dilation
    kh, kw = dh * (spec.kh - 1) + 1, dw * (spec.kw - 1) + 1
    dense = spec.replace(kh=kh, kw=kw, dilation=(1, 1))
    arrays = make_arrays(spec, seed)
    w_dense = np.zeros(dense.w_shape, dtype=arrays.w.dtype)
    w_dense[:, :, ::dh, ::dw] = arrays.w
    return [(spec, arrays, False), (dense, CaseArrays(arrays.x, w_dense, arrays.b, arrays.gy), False)], {}


def dilation_sides(runs):
    """Dilation d equals dilation 1 with a kernel that has d-1 zeros between taps."""
    dilated, dense = runs
    return [("dilation = zero-inserted kernel", dilated.out["y"], dense.out["y"], dilated.bound["y"] + dense.bound["y"])]


def homogeneity_plan(spec: ConvSpec, seed: int):
    arrays = make_arrays(spec, seed)
    doubled = CaseArrays(arrays.x * 2, arrays.w, None if arrays.b is None else arrays.b * 2, arrays.gy)
    return [(spec, arrays, True), (spec, doubled, True)], {
        "bias": spec.bias, "tiny": 2.0 ** B.FORMATS[spec.dtype][1], "eta": B.UNDERFLOW_UNIT[spec.dtype]}


def homogeneity_sides(runs, bias, tiny, eta):
    """Scaling x and b by 2 scales y, dw and db by exactly 2 (powers of two round exactly)."""
    base, twice = runs[0].out, runs[1].out
    sides = []
    for o in ("y", "dw") + (("db",) if bias else ()):
        factor = 1.0 if o == "db" else 2.0            # db depends on gy only
        bound = np.zeros_like(base[o]) if o == "db" else subnormal_doubling(base[o], tiny, eta)
        sides.append((f"homogeneity {o}(2x) = {factor:g}*{o}(x)", twice[o], factor * base[o], bound))
    return sides


def subnormal_doubling(base, tiny, eta):
    """Doubling commutes with rounding to the storage format except on its subnormal grid
    (``tiny``: its smallest normal, 2^emin; ``eta``: half its smallest subnormal). Where
    |round(s)| <= tiny, s itself is at most tiny and |2 round(s) - 2s| <= 2 eta, while 2s < 2 tiny
    rounds with a spacing of at most 4 eta: |round(2s) - 2s| <= 2 eta. So |round(2s) - 2 round(s)|
    <= 4 eta there, and 0 elsewhere. (A float16 dw of 6e-5 is subnormal; its double is not:
    exactness is not owed there.)"""
    return np.where(np.abs(base) <= tiny, 4 * eta, 0.0)


def batch_plan(spec: ConvSpec, seed: int):
    arrays = make_arrays(spec, seed)
    single = spec.replace(n=1)
    return [(spec, arrays, False)] + [
        (single, CaseArrays(np.ascontiguousarray(arrays.x[i:i + 1]), arrays.w, arrays.b,
                            np.ascontiguousarray(arrays.gy[i:i + 1])), False) for i in range(spec.n)], {}


def batch_sides(runs):
    """Each image's output depends on that image alone."""
    whole, rows = runs[0], runs[1:]
    bound = whole.bound["y"] + np.concatenate([r.bound["y"] for r in rows])
    return [("batch independence", whole.out["y"], np.concatenate([r.out["y"] for r in rows]), bound)]


#: name -> (plan, sides)
PARTS = {
    "adjoint": (adjoint_plan, adjoint_sides),
    "stride": (stride_plan, stride_sides),
    "groups": (groups_plan, groups_sides),
    "dilation": (dilation_plan, dilation_sides),
    "homogeneity": (homogeneity_plan, homogeneity_sides),
    "batch": (batch_plan, batch_sides),
}


def check_relation(name: str, call: Calls, spec: ConvSpec, seed: int) -> list[Verdict]:
    """Relation ``name`` on the case (spec, seed): every call of its plan through ``call``, then
    each pair of sides judged by :func:`compare_output` within the sum of both sides' bounds."""
    plan, sides = PARTS[name]
    calls, params = plan(spec, seed)
    runs = [Run(s, arrays, backward, call(s, arrays, backward), call.bounds) for s, arrays, backward in calls]
    return [compare_output(label, a, b, bound, "float64") for label, a, b, bound in sides(runs, **params)]


RELATIONS = {name: partial(check_relation, name) for name in PARTS}   # name -> (call, spec, seed) -> verdicts


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
