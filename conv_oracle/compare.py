"""Comparison of one output against the truth: exact checks first, then error / bound.

The result is a structured :class:`Verdict`; its message keeps the shape of
``torch.testing``'s ("Mismatched elements: k / n (p%)", greatest error with its index),
with the tolerance replaced by the error model's bound, and it shows the value returned
and the value expected at the worst element. The bound itself is assembled and checked in
:mod:`conv_oracle.bounds`; here it is only used.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np


@dataclass
class Verdict:
    output: str                      # y, dx, dw, db (or a relation's name)
    ok: bool
    kind: str                        # ok | missing | unexpected | type | shape | dtype | nonfinite | bound
    detail: str = ""
    mismatched: int = 0
    total: int = 0
    worst_index: tuple | None = None
    worst_error: float = 0.0
    worst_bound: float = 0.0
    max_ratio: float = 0.0           # max error / bound (0/0 counts as 0)
    median_ratio: float = 0.0
    exact_required: bool = False     # the bound was zero: integer data, direct summation
    worst_got: float | None = None       # value returned at the worst element
    worst_expected: float | None = None  # the truth there
    expected_zero: bool = False      # the truth at the worst element is exactly 0 with no magnitude behind it
    bound_power: float | None = None     # ||bound||_2 / ||truth||_2: how tight a pass is (None: truth 0)
    layout_index: tuple | None = None    # worst_index in the plugin's own layout, when it is not NCHW/OIHW
    layout: str = ""                     # that layout's name (NHWC, HWIO)

    def message(self) -> str:
        if self.kind != "bound":
            return f"{self.output}: {self.detail}"
        pct = 100.0 * self.mismatched / max(self.total, 1)
        index = (f"{self.worst_index} ({self.layout} {self.layout_index} in the plugin's layout)"
                 if self.layout_index is not None else f"{self.worst_index}")
        where = (f"  Greatest error at index {index}: got {self.worst_got!r}, expected exactly 0 "
                 f"(error {self.worst_error:.3g}, bound {self.worst_bound:.3g}, only the underflow term)"
                 if self.expected_zero else
                 f"  Greatest error/bound: {self.max_ratio:.3g} at index {index}: got "
                 f"{self.worst_got!r}, expected {self.worst_expected!r} (error {self.worst_error:.3g}, "
                 f"bound {self.worst_bound:.3g}{', exact result required' if self.exact_required else ''})")
        return f"{self.output}: Mismatched elements: {self.mismatched} / {self.total} ({pct:.1f}%)\n{where}"

    def to_dict(self) -> dict:
        # every field is a number, a string, a bool or an index tuple: the dict that
        # dataclasses.asdict builds, without its recursive deep copy of each value
        d = {name: getattr(self, name) for name in _VERDICT_FIELDS}
        d["worst_index"] = list(self.worst_index) if self.worst_index is not None else None
        d["layout_index"] = list(self.layout_index) if self.layout_index is not None else None
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Verdict":
        known = {f.name for f in fields(cls)}
        kept = {k: v for k, v in d.items() if k in known}
        for key in ("worst_index", "layout_index"):
            if kept.get(key) is not None:
                kept[key] = tuple(kept[key])
        return cls(**kept)


_VERDICT_FIELDS = tuple(f.name for f in fields(Verdict))


def _nonfinite_pattern(a: np.ndarray):
    return np.isnan(a), np.isposinf(a), np.isneginf(a)


def exact_checks(name: str, got, truth: np.ndarray, dtype: str) -> Verdict | None:
    """Type, shape (no broadcasting) and dtype; None when they hold."""
    if got is None:
        return Verdict(name, False, "missing", "returned None where an array was expected")
    if not isinstance(got, np.ndarray):
        return Verdict(name, False, "type", f"returned {type(got).__name__}, expected numpy.ndarray")
    if got.shape != truth.shape:
        return Verdict(name, False, "shape", f"shape {got.shape}, expected {truth.shape} (no broadcasting)")
    if got.dtype != np.dtype(dtype):   # np.dtype("bfloat16") is ml_dtypes' (registered by .spec)
        hint = (" (an unrounded accumulator? round the output to the storage dtype)"
                if np.dtype(dtype).itemsize < got.dtype.itemsize and got.dtype.kind == "f" else "")
        return Verdict(name, False, "dtype", f"dtype {got.dtype}, expected {dtype}{hint}")
    return None


def _median(a: np.ndarray) -> float:
    """``np.median`` of an array without NaN, by one partition (np.median's own checks cost
    more than the partition on the small outputs a fuzzing case has)."""
    part = a.reshape(-1).copy()     # what np.partition does, without its wrapper
    half = part.size // 2
    if part.size % 2:
        part.partition(half)
        return float(part[half])
    part.partition((half - 1, half))
    return float((part[half - 1] + part[half]) / 2)


def _norm(a: np.ndarray) -> float:
    """``np.linalg.norm(a)`` of a float array, the same operations (ravel, dot, sqrt) without
    its dispatch and checks."""
    flat = a.ravel(order="K")
    return math.sqrt(float(flat.dot(flat)))


def compare_output(name: str, got, truth: np.ndarray, bound: np.ndarray, dtype: str,
                   scale: np.ndarray | None = None) -> Verdict:
    """Check ``got`` against the float64 ``truth`` within ``bound`` (validated, truth's shape).
    ``scale`` (sum |x||w| per element) tells an exact zero from a cancellation to zero."""
    exact = exact_checks(name, got, truth, dtype)
    if exact is not None:
        return exact
    got64 = got.astype(np.float64, copy=False)   # explicit upcast: bf16 arithmetic and reductions stay in bf16
    total = got.size
    with np.errstate(invalid="ignore"):          # inf - inf is NaN: such a case takes the exact path below
        err = got64 - truth
        np.abs(err, out=err)                     # |got - truth| in the difference's own array
    # A NaN or Inf in either array makes the difference, and so the largest error, NaN or Inf: when
    # that is finite, so is every value (the common case: the patterns need no look)
    all_finite = total == 0 or bool(np.maximum.reduce(err, axis=None) < np.inf) or bool(
        np.isfinite(got64).all() and np.isfinite(truth).all())
    if not all_finite and any((a != b).any() for a, b in zip(_nonfinite_pattern(got64), _nonfinite_pattern(truth))):
        bad = np.argwhere(np.isnan(got64) != np.isnan(truth))
        first = tuple(int(i) for i in (bad[0] if len(bad) else np.argwhere(~np.isfinite(got64) | ~np.isfinite(truth))[0]))
        return Verdict(name, False, "nonfinite",
                       f"NaN/Inf positions differ from the oracle's, first at index {first}: "
                       f"got {got64[first]}, expected {truth[first]}", total=total)
    if total == 0:
        return Verdict(name, True, "ok", total=0)
    if all_finite:        # no position to mask: the same arrays as the masked ones below, fewer passes
        truth_used, bound_used = truth, bound
    else:
        finite = np.isfinite(truth)
        err = np.where(finite, np.abs(got64 - np.where(finite, truth, 0.0)), 0.0)
        truth_used, bound_used = np.where(finite, truth, 0.0), np.where(finite, bound, 0.0)
    positive = bool(np.minimum.reduce(bound, axis=None) > 0)     # no zero (and no NaN) in the bound: no 0/0
    with np.errstate(divide="ignore", invalid="ignore"):
        # err / b is 0 where err is when b > 0: the same ratio as the where-form, two passes fewer
        ratio = err / bound if positive else np.where(err == 0, 0.0, err / bound)   # 0/0 -> 0, e/0 -> inf
    mismatched = int(np.count_nonzero(err > bound))
    worst = np.unravel_index(int(ratio.argmax()), ratio.shape)
    truth_norm = _norm(truth_used)
    zero_there = truth[worst] == 0 and (scale is None or scale[worst] == 0)
    # err is finite or +inf and the bound finite, so ratio holds no NaN when every value is finite
    median = _median(ratio) if all_finite else float(np.median(ratio))
    return Verdict(
        name, mismatched == 0, "ok" if mismatched == 0 else "bound", "",
        mismatched, total, tuple(int(i) for i in worst), float(err[worst]), float(bound[worst]),
        float(ratio[worst]), median, exact_required=not (positive or bound.any()),
        worst_got=float(got64[worst]), worst_expected=float(truth[worst]),
        expected_zero=bool(mismatched and zero_there and err[worst] > 0),
        bound_power=_norm(bound_used) / truth_norm if truth_norm > 0 else None,
    )


def agrees(got, truth: np.ndarray, bound: np.ndarray, dtype: str) -> bool:
    """A quick test that is True only where :func:`compare_output` passes (right type, shape and
    dtype, every value finite, every error within the bound); False means: run it to know."""
    if not (isinstance(got, np.ndarray) and got.shape == truth.shape and got.dtype == np.dtype(dtype)):
        return False
    with np.errstate(invalid="ignore"):          # inf - inf
        err = got.astype(np.float64, copy=False) - truth
        np.abs(err, out=err)
    # the largest error finite: every value of both is (a NaN or Inf in either makes it NaN or Inf)
    return err.size == 0 or bool(np.maximum.reduce(err, axis=None) < np.inf and (err <= bound).all())


def _explains(got: np.ndarray, candidate: np.ndarray, truth: np.ndarray, bound: np.ndarray) -> bool:
    """Whether ``candidate`` accounts for (nearly) all of got's error: the rest is within
    a hundredth of the error plus the bound, normwise."""
    if candidate.shape != got.shape or got.size == 0:
        return False
    miss = float(np.linalg.norm(got - truth))
    return miss > 0 and float(np.linalg.norm(got - candidate)) <= 0.01 * miss + float(np.linalg.norm(bound))


def error_pattern_hint(output: str, got, truth: np.ndarray, bound: np.ndarray, n: int = 1,
                       bias: np.ndarray | None = None) -> str:
    """A one-line hint when the wrong answer is a recognisable transform of the truth: scaled by
    N or 1/N, rotated 180 degrees, transposed, shifted by one, off by exactly the bias."""
    if not isinstance(got, np.ndarray) or got.shape != truth.shape or not np.isfinite(truth).all():
        return ""
    g = got.astype(np.float64)
    if not np.isfinite(g).all():
        return ""
    candidates = []
    if n > 1:
        candidates += [(truth * n, f"{output} equals the truth scaled by N={n} (a batch sum where none belongs?)"),
                       (truth / n, f"{output} equals the truth divided by N={n} (averaged over the batch?)")]
    if bias is not None and output == "y":
        b = bias.reshape(1, -1, 1, 1)
        candidates += [(truth - b, "y is off by exactly the bias (bias not added?)"),
                       (truth + b, "y is off by exactly the bias (bias added twice?)")]
    if truth.ndim >= 2:
        candidates.append((truth[..., ::-1, ::-1], f"{output} equals the truth rotated 180 degrees (kernel flipped?)"))
        if truth.shape[-1] == truth.shape[-2]:
            candidates.append((np.swapaxes(truth, -1, -2), f"{output} equals the truth transposed (h and w swapped?)"))
    for candidate, text in candidates:
        if _explains(g, candidate, truth, bound):
            return "hint: " + text
    if truth.ndim >= 2:  # shifted by one pixel along h or w: compare the overlap only
        for axis, name in ((-2, "h"), (-1, "w")):
            if truth.shape[axis] < 3:
                continue
            for step, way in ((1, "down/right"), (-1, "up/left")):
                lo, hi = [slice(None)] * truth.ndim, [slice(None)] * truth.ndim
                lo[axis], hi[axis] = (slice(step, None), slice(None, -step)) if step > 0 else \
                    (slice(None, step), slice(-step, None))
                a, t, bd = g[tuple(lo)], truth[tuple(hi)], bound[tuple(lo)]
                if _explains(a, t, truth[tuple(lo)], bd):
                    return f"hint: {output} equals the truth shifted by one along {name} ({way}): an off-by-one index?"
    return ""
