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
from .runner import bound_context, call_plugin
from .spec import ConvSpec


def _model_bounds(plugin: ConvPlugin, spec: ConvSpec, arrays: CaseArrays) -> dict[str, np.ndarray]:
    from .oracles import torch_oracle

    a64 = arrays.as_float64()
    scale = torch_oracle.magnitudes(spec, a64.x, a64.w, a64.b, a64.gy)   # no oracle answer is used
    return plugin.error_model.bounds(bound_context(spec, a64, scale))


def _outputs(plugin, spec, arrays, backward=True) -> dict[str, np.ndarray]:
    out, _, _ = call_plugin(plugin, spec, arrays, backward)
    return {k: (None if v is None else np.asarray(v, dtype=np.float64)) for k, v in out.items()}


def _within(name: str, a: np.ndarray, b: np.ndarray, bound: np.ndarray) -> Verdict:
    """|a - b| <= bound elementwise, with the same exact shape checks as the oracle comparison."""
    return compare_output(name, a, b, bound, "float64")


def adjoint(plugin: ConvPlugin, spec: ConvSpec, seed: int) -> list[Verdict]:
    arrays = make_arrays(spec, seed)
    a64 = arrays.as_float64()
    out = _outputs(plugin, spec, arrays)
    bnd = _model_bounds(plugin, spec, arrays)
    bias_term = float(np.dot(a64.b, out["db"])) if spec.bias else 0.0
    bias_err = float(np.dot(np.abs(a64.b), bnd["db"])) if spec.bias else 0.0
    pairs = {  # inner product, its error bound from the model, and the magnitude of its terms
        "<y,g>-<b,db>": (np.vdot(out["y"], a64.gy) - bias_term,
                         np.vdot(bnd["y"], np.abs(a64.gy)) + bias_err, np.vdot(np.abs(out["y"]), np.abs(a64.gy))),
        "<x,dx>": (np.vdot(a64.x, out["dx"]), np.vdot(np.abs(a64.x), bnd["dx"]), np.vdot(np.abs(a64.x), np.abs(out["dx"]))),
        "<w,dw>": (np.vdot(a64.w, out["dw"]), np.vdot(np.abs(a64.w), bnd["dw"]), np.vdot(np.abs(a64.w), np.abs(out["dw"]))),
    }
    u64 = B.UNIT_ROUNDOFF["float64"]
    m = max(a64.gy.size, a64.x.size, a64.w.size) + 1
    names = list(pairs)
    ref_value, ref_err, ref_mag = pairs[names[0]]
    verdicts = []
    for other in names[1:]:
        value, err, mag = pairs[other]
        limit = ref_err + err + B.gamma(m, u64) * (ref_mag + mag)     # + float64 rounding of both dots
        verdicts.append(_within(f"adjoint {names[0]} = {other}", np.array([ref_value]), np.array([value]),
                                np.array([limit])))
    return verdicts


def stride_subsampling(plugin: ConvPlugin, spec: ConvSpec, seed: int) -> list[Verdict]:
    """y with stride s equals y with stride 1, sampled every s pixels."""
    unit = spec.replace(stride=(1, 1))
    arrays = make_arrays(spec, seed)
    y_s = _outputs(plugin, spec, arrays, backward=False)["y"]
    unit_arrays = CaseArrays(arrays.x, arrays.w, arrays.b, make_arrays(unit, seed).gy)
    y_1 = _outputs(plugin, unit, unit_arrays, backward=False)["y"]
    ho, wo = spec.out_hw
    sh, sw = spec.stride
    bound = _model_bounds(plugin, spec, arrays)["y"] + _model_bounds(plugin, unit, unit_arrays)["y"][:, :, ::sh, ::sw][:, :, :ho, :wo]
    return [_within("stride = subsampled stride 1", y_s, y_1[:, :, ::sh, ::sw][:, :, :ho, :wo], bound)]


def group_concatenation(plugin: ConvPlugin, spec: ConvSpec, seed: int) -> list[Verdict]:
    """A grouped conv equals the per-group convs concatenated along channels."""
    g, cg, fg = spec.groups, spec.c // spec.groups, spec.f // spec.groups
    arrays = make_arrays(spec, seed)
    y = _outputs(plugin, spec, arrays, backward=False)["y"]
    parts, part_bounds = [], []
    one = spec.replace(c=cg, f=fg, groups=1)
    for k in range(g):
        sub = CaseArrays(np.ascontiguousarray(arrays.x[:, k * cg:(k + 1) * cg]), arrays.w[k * fg:(k + 1) * fg].copy(),
                         None if arrays.b is None else arrays.b[k * fg:(k + 1) * fg].copy(),
                         np.ascontiguousarray(arrays.gy[:, k * fg:(k + 1) * fg]))
        parts.append(_outputs(plugin, one, sub, backward=False)["y"])
        part_bounds.append(_model_bounds(plugin, one, sub)["y"])
    bound = _model_bounds(plugin, spec, arrays)["y"] + np.concatenate(part_bounds, axis=1)
    return [_within("groups = concatenated per-group convs", y, np.concatenate(parts, axis=1), bound)]


def dilation_zero_insertion(plugin: ConvPlugin, spec: ConvSpec, seed: int) -> list[Verdict]:
    """Dilation d equals dilation 1 with a kernel that has d-1 zeros between taps."""
    (dh, dw) = spec.dilation
    kh, kw = dh * (spec.kh - 1) + 1, dw * (spec.kw - 1) + 1
    dense = spec.replace(kh=kh, kw=kw, dilation=(1, 1))
    arrays = make_arrays(spec, seed)
    w_dense = np.zeros(dense.w_shape, dtype=arrays.w.dtype)
    w_dense[:, :, ::dh, ::dw] = arrays.w
    dense_arrays = CaseArrays(arrays.x, w_dense, arrays.b, arrays.gy)
    y_d = _outputs(plugin, spec, arrays, backward=False)["y"]
    y_z = _outputs(plugin, dense, dense_arrays, backward=False)["y"]
    bound = _model_bounds(plugin, spec, arrays)["y"] + _model_bounds(plugin, dense, dense_arrays)["y"]
    return [_within("dilation = zero-inserted kernel", y_d, y_z, bound)]


def homogeneity(plugin: ConvPlugin, spec: ConvSpec, seed: int) -> list[Verdict]:
    """Scaling x and b by 2 scales y, dw and db by exactly 2 (powers of two round exactly)."""
    arrays = make_arrays(spec, seed)
    doubled = CaseArrays(arrays.x * 2, arrays.w, None if arrays.b is None else arrays.b * 2, arrays.gy)
    base, twice = _outputs(plugin, spec, arrays), _outputs(plugin, spec, doubled)
    verdicts = []
    for o in ("y", "dw") + (("db",) if spec.bias else ()):
        factor = 1.0 if o == "db" else 2.0            # db depends on gy only
        verdicts.append(_within(f"homogeneity {o}(2x) = {factor:g}*{o}(x)", twice[o], factor * base[o],
                                np.zeros_like(base[o])))
    return verdicts


def batch_independence(plugin: ConvPlugin, spec: ConvSpec, seed: int) -> list[Verdict]:
    """Each image's output depends on that image alone."""
    arrays = make_arrays(spec, seed)
    y = _outputs(plugin, spec, arrays, backward=False)["y"]
    single = spec.replace(n=1)
    rows, row_bounds = [], []
    for i in range(spec.n):
        sub = CaseArrays(np.ascontiguousarray(arrays.x[i:i + 1]), arrays.w, arrays.b, np.ascontiguousarray(arrays.gy[i:i + 1]))
        rows.append(_outputs(plugin, single, sub, backward=False)["y"])
        row_bounds.append(_model_bounds(plugin, single, sub)["y"])
    bound = _model_bounds(plugin, spec, arrays)["y"] + np.concatenate(row_bounds)
    return [_within("batch independence", y, np.concatenate(rows), bound)]


RELATIONS = {
    "adjoint": adjoint,
    "stride": stride_subsampling,
    "groups": group_concatenation,
    "dilation": dilation_zero_insertion,
    "homogeneity": homogeneity,
    "batch": batch_independence,
}
