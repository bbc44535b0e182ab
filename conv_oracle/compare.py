"""Comparison of one output against the truth: exact checks first, then error / bound.

The result is a structured :class:`Verdict`; its message keeps the shape of
``torch.testing``'s ("Mismatched elements: k / n (p%)", greatest error with its index),
with the tolerance replaced by the error model's bound.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass
class Verdict:
    output: str                      # y, dx, dw, db
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

    def message(self) -> str:
        if self.kind != "bound":
            return f"{self.output}: {self.detail}"
        pct = 100.0 * self.mismatched / max(self.total, 1)
        return (f"{self.output}: Mismatched elements: {self.mismatched} / {self.total} ({pct:.1f}%)\n"
                f"  Greatest error/bound: {self.max_ratio:.3g} at index {self.worst_index} "
                f"(error {self.worst_error:.3g}, bound {self.worst_bound:.3g}"
                f"{', exact result required' if self.exact_required else ''})")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["worst_index"] = list(self.worst_index) if self.worst_index is not None else None
        return d


def _nonfinite_pattern(a: np.ndarray):
    return np.isnan(a), np.isposinf(a), np.isneginf(a)


def compare_output(name: str, got, truth: np.ndarray, bound: np.ndarray, dtype: str) -> Verdict:
    """Check ``got`` against the float64 ``truth`` within ``bound`` (same shape as truth)."""
    if got is None:
        return Verdict(name, False, "missing", "returned None where an array was expected")
    if not isinstance(got, np.ndarray):
        return Verdict(name, False, "type", f"returned {type(got).__name__}, expected numpy.ndarray")
    if got.shape != truth.shape:
        return Verdict(name, False, "shape", f"shape {got.shape}, expected {truth.shape} (no broadcasting)")
    if got.dtype != np.dtype(dtype):
        return Verdict(name, False, "dtype", f"dtype {got.dtype}, expected {dtype}")
    assert bound.shape == truth.shape, f"bound shape {bound.shape} != output shape {truth.shape}"
    got64 = got.astype(np.float64)
    total = got.size
    if any((a != b).any() for a, b in zip(_nonfinite_pattern(got64), _nonfinite_pattern(truth))):
        bad = np.argwhere(np.isnan(got64) != np.isnan(truth))
        first = tuple(int(i) for i in (bad[0] if len(bad) else np.argwhere(~np.isfinite(got64) | ~np.isfinite(truth))[0]))
        return Verdict(name, False, "nonfinite",
                       f"NaN/Inf positions differ from the oracle's, first at index {first}: "
                       f"got {got64[first]}, expected {truth[first]}", total=total)
    finite = np.isfinite(truth)
    err = np.where(finite, np.abs(got64 - np.where(finite, truth, 0.0)), 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(err == 0, 0.0, err / bound)          # 0/0 -> 0, e/0 -> inf
    mismatched = int((err > bound).sum())
    if total == 0:
        return Verdict(name, True, "ok", total=0)
    worst = np.unravel_index(int(np.argmax(ratio)), ratio.shape)
    return Verdict(
        name, mismatched == 0, "ok" if mismatched == 0 else "bound", "",
        mismatched, total, tuple(int(i) for i in worst), float(err[worst]), float(bound[worst]),
        float(ratio[worst]), float(np.median(ratio)), exact_required=bool((bound == 0).all()),
    )
