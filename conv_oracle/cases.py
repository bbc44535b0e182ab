"""Input arrays for a case: (spec, seed, fill) -> x, w, b, gy in the spec's dtype.

Deterministic, so a descriptor, a seed and a fill name reproduce a case exactly.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .spec import ConvSpec

FILLS = ("normal", "integer", "magnitudes", "nonfinite")


@dataclass(frozen=True)
class CaseArrays:
    x: np.ndarray
    w: np.ndarray
    b: np.ndarray | None
    gy: np.ndarray

    def as_float64(self) -> "CaseArrays":
        """Exact float64 copies of the rounded inputs: what the truth is computed on."""
        return CaseArrays(*(None if a is None else a.astype(np.float64) for a in
                            (self.x, self.w, self.b, self.gy)))


# exponent range of the "magnitudes" fill: products and sums stay finite and normal
_MAGNITUDE_EXPONENT = {"float16": 4, "float32": 16, "float64": 16}


def _draw(rng: np.random.Generator, shape, fill: str, dtype: str) -> np.ndarray:
    if fill in ("normal", "nonfinite"):
        return rng.standard_normal(shape)
    if fill == "integer":  # benchdnn style: small integers, so direct sums are exact
        return rng.integers(-3, 4, size=shape).astype(np.float64)
    if fill == "magnitudes":  # each element scaled by 2^k, k in [-16, 16] (f16: [-4, 4])
        e = _MAGNITUDE_EXPONENT[dtype]
        return rng.standard_normal(shape) * np.exp2(rng.integers(-e, e + 1, size=shape))
    raise ValueError(f"unknown fill {fill!r}; known: {', '.join(FILLS)}")


def make_arrays(spec: ConvSpec, seed: int, fill: str = "normal") -> CaseArrays:
    rng = np.random.default_rng(seed)
    dtype = np.dtype(spec.dtype)
    x = _draw(rng, spec.x_shape, fill, spec.dtype).astype(dtype)
    if fill == "nonfinite":  # a few NaN/+Inf/-Inf in x: output positions must match the oracle's
        spots = rng.choice(x.size, size=max(1, x.size // 50), replace=False)
        x.flat[spots] = rng.choice(np.array([np.nan, np.inf, -np.inf], dtype=dtype), size=spots.size)
    w = _draw(rng, spec.w_shape, fill, spec.dtype).astype(dtype)
    b = _draw(rng, spec.b_shape, fill, spec.dtype).astype(dtype) if spec.bias else None
    gy = _draw(rng, spec.y_shape, fill, spec.dtype).astype(dtype)
    return CaseArrays(x, w, b, gy)
