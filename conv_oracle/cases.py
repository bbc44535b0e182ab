"""Input arrays for a case: (spec, seed, fill) -> x, w, b, gy in the spec's dtype.

Deterministic, so a descriptor, a seed and a fill name reproduce a case exactly.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .spec import LOW_PRECISION, ConvSpec

FILLS = ("normal", "integer", "magnitudes", "nonfinite", "extremes", "positive")


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
_MAGNITUDE_EXPONENT = {"bfloat16": 16, "float16": 4, "float32": 16, "float64": 16}


def _edges(dtype: str) -> str:
    """The format whose edges the "extremes" fill probes: the storage format itself for bfloat16
    and float16; float16 for float32/float64 (where a hidden float16 conversion would break)."""
    return dtype if dtype in LOW_PRECISION else "float16"


@lru_cache(maxsize=1024)
def _seeded_state(seed: int) -> dict:
    """The bit generator state of ``np.random.default_rng(seed)``: hashing the seed (SeedSequence)
    costs ~6 us, and Hypothesis draws the same small seeds again and again."""
    return np.random.PCG64(seed).state


_THREAD = threading.local()


def _rng(seed: int) -> np.random.Generator:
    """``np.random.default_rng(seed)``, exactly: this thread's generator reset to that seed's state."""
    rng = getattr(_THREAD, "rng", None)
    if rng is None:
        rng = _THREAD.rng = np.random.Generator(np.random.PCG64())
    rng.bit_generator.state = _seeded_state(seed)
    return rng


_SIGNS = np.array([-1.0, 1.0])


def _pick(rng: np.random.Generator, values: np.ndarray, size) -> np.ndarray:
    """``rng.choice(values, size=size)``, exactly (the same draws: one bounded integer each), without
    choice's argument handling (~4 us a call)."""
    return values[rng.integers(0, len(values), size=size)]


def _clip4(values: np.ndarray) -> np.ndarray:
    """``np.clip(values, -4, 4)`` of NaN-free floats, without np.clip's wrapper (~3 us a call)."""
    return np.minimum(np.maximum(values, -4.0), 4.0)


@lru_cache(maxsize=None)
def _edge_values(dtype: str) -> tuple[float, float, int]:
    """(largest finite, smallest subnormal, 2^mantissa bits) of the format the "extremes" fill probes."""
    info = np.finfo(np.dtype(_edges(dtype)))
    return float(info.max), float(info.smallest_subnormal), 2 ** info.nmant


def _extremes(rng: np.random.Generator, shape, role: str, spec: ConvSpec) -> np.ndarray:
    """Values at a format's edges whose exact results all stay finite: x holds values near the
    overflow threshold (M/2..M), w and gy are scaled by 1/(8K) of the output they feed (normal
    draws clipped to 4 sigma, so sum|x||w| <= M/2 and sum|x||gy| <= M/2), |b| <= M/4; every
    array also holds subnormals of the edge format and ordinary values."""
    big, sub, subnormal_steps = _edge_values(spec.dtype)      # subnormals are k * sub, 0 < k < 2^nmant
    ho, wo = spec.out_hw
    if role == "x":
        values = rng.uniform(0.5, 1.0, size=shape) * big
    elif role == "b":
        values = rng.uniform(0.0, 0.25, size=shape) * big
    else:
        k = {"w": (spec.c // spec.groups) * spec.kh * spec.kw + 1, "gy": spec.n * ho * wo}[role]
        values = _clip4(rng.standard_normal(shape)) / (8 * k)
    kind = rng.integers(0, 3, size=shape)                     # 0: as above, 1: subnormal, 2: ordinary
    subnormal = rng.integers(1, subnormal_steps, size=shape) * sub
    ordinary = _clip4(rng.standard_normal(shape)) if role in ("x", "b") else values
    values = np.where(kind == 1, subnormal, np.where(kind == 2, ordinary, values))
    return values * _pick(rng, _SIGNS, shape)


def _draw(rng: np.random.Generator, shape, fill: str, dtype: str) -> np.ndarray:
    """Values in float64, before the rounding to ``dtype``."""
    if fill in ("normal", "nonfinite"):
        return rng.standard_normal(shape)
    if fill == "positive":  # uniform [0, 1): no cancellation, so every rounding of a partial sum adds up
        return rng.uniform(0.0, 1.0, size=shape)
    if fill == "integer":  # benchdnn style: small integers, so direct sums are exact
        return rng.integers(-3, 4, size=shape).astype(np.float64)
    if fill == "magnitudes":  # each element scaled by 2^k, k in [-16, 16] (f16: [-4, 4])
        e = _MAGNITUDE_EXPONENT[dtype]
        return rng.standard_normal(shape) * np.exp2(rng.integers(-e, e + 1, size=shape))
    raise ValueError(f"unknown fill {fill!r}; known: {', '.join(FILLS)}")


def make_arrays(spec: ConvSpec, seed: int, fill: str = "normal") -> CaseArrays:
    rng = _rng(seed)
    dtype = np.dtype(spec.dtype)
    if fill == "extremes":
        x, w, gy = (_extremes(rng, shape, role, spec).astype(dtype)
                    for role, shape in (("x", spec.x_shape), ("w", spec.w_shape), ("gy", spec.y_shape)))
        b = _extremes(rng, spec.b_shape, "b", spec).astype(dtype) if spec.bias else None
        return CaseArrays(x, w, b, gy)
    x = _draw(rng, spec.x_shape, fill, spec.dtype).astype(dtype)
    if fill == "nonfinite":  # a few NaN/+Inf/-Inf in x: output positions must match the oracle's
        spots = rng.choice(x.size, size=max(1, x.size // 50), replace=False)
        x.flat[spots] = _pick(rng, np.array([np.nan, np.inf, -np.inf], dtype=dtype), spots.size)
    w = _draw(rng, spec.w_shape, fill, spec.dtype).astype(dtype)
    b = _draw(rng, spec.b_shape, fill, spec.dtype).astype(dtype) if spec.bias else None
    gy = _draw(rng, spec.y_shape, fill, spec.dtype).astype(dtype)
    return CaseArrays(x, w, b, gy)
