"""Error models: the only place where "close enough" is decided.

Every bound is an array of the output's exact shape, in float64, derived from the error
analysis of the algorithm (Higham, *Accuracy and Stability of Numerical Algorithms*, ch. 3):
a recursive or any-order sum of K products satisfies

    |fl(sum x_i w_i) - sum x_i w_i| <= gamma_K * sum |x_i||w_i| + K*eta,
    gamma_K = K u / (1 - K u),

with u the unit roundoff and eta the underflow unit. The harness computes the magnitude
``s = sum |x_i||w_i|`` for every output element (``BoundContext.scale``) and the number of
terms K (``BoundContext.terms``); a model turns them into a bound. The reference's own
rounding error is added by the harness (:func:`reference_bound`), never by a model.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .spec import ConvSpec

OUTPUTS = ("y", "dx", "dw", "db")

# unit roundoff u = 2^-p and underflow unit eta (half the smallest subnormal)
UNIT_ROUNDOFF = {"float16": 2.0**-11, "float32": 2.0**-24, "float64": 2.0**-53}
UNDERFLOW_UNIT = {"float16": 2.0**-25, "float32": 2.0**-150, "float64": 2.0**-1075}
MANTISSA_BITS = {"float16": 11, "float32": 24, "float64": 53}
REFERENCE_DTYPE = "float64"


def gamma(k: int, u: float) -> float:
    """gamma_k = k u / (1 - k u); infinite once k u >= 1 (no bound exists)."""
    ku = k * u
    return ku / (1.0 - ku) if ku < 1.0 else float("inf")


@dataclass
class BoundContext:
    """What a model may use: the spec, the inputs rounded to the tested dtype and held in
    float64, and per output the magnitude array ``scale[o]`` and term count ``terms[o]``."""

    spec: ConvSpec
    x: np.ndarray
    w: np.ndarray
    b: np.ndarray | None
    gy: np.ndarray
    scale: dict[str, np.ndarray]
    terms: dict[str, int]
    outputs: tuple[str, ...] = OUTPUTS

    @property
    def u(self) -> float:
        return UNIT_ROUNDOFF[self.spec.dtype]

    @property
    def eta(self) -> float:
        return UNDERFLOW_UNIT[self.spec.dtype]


class ErrorModel:
    """Base class. ``bounds`` returns {output: bound array of that output's shape}."""

    name = "abstract"
    exact_on_integer_data = False  # integer-valued fills must then match bit for bit

    def bounds(self, ctx: BoundContext) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def describe(self) -> str:
        return self.name


class DirectSum(ErrorModel):
    """Direct summation in any order: |err| <= gamma_K(u) * s + K*eta, per element.

    K per output: y: C/g*KH*KW (+1 with bias); dx: F/g*KH*KW; dw and db: N*Ho*Wo.
    Padding taps add exact zeros, so counting them in K only loosens the bound slightly.
    """

    name = "direct-sum"
    exact_on_integer_data = True

    def __init__(self, accumulate: str | None = None):
        self.accumulate = accumulate  # e.g. "float32" for a float16 implementation

    def bounds(self, ctx: BoundContext) -> dict[str, np.ndarray]:
        u = UNIT_ROUNDOFF[self.accumulate] if self.accumulate else ctx.u
        eta = UNDERFLOW_UNIT[self.accumulate] if self.accumulate else ctx.eta
        out = {}
        for o in ctx.outputs:
            k = ctx.terms[o]
            out[o] = gamma(k, u) * ctx.scale[o] + k * eta
            if self.accumulate:  # the final rounding to the storage dtype
                out[o] = out[o] + ctx.u * (ctx.scale[o] * (1 + gamma(k, u)) + k * eta)
        return out

    def describe(self) -> str:
        acc = f", accumulating in {self.accumulate}" if self.accumulate else ""
        return f"direct-sum: |err| <= gamma_K*sum|x||w| + K*eta per element{acc}"


def reference_bound(ctx: BoundContext) -> dict[str, np.ndarray]:
    """Rounding error of the float64 reference itself, plus the rounding of ``scale``
    (computed in float64 from non-negative terms, so it may be low by gamma_K(u64))."""
    u, eta = UNIT_ROUNDOFF[REFERENCE_DTYPE], UNDERFLOW_UNIT[REFERENCE_DTYPE]
    return {o: 2 * gamma(ctx.terms[o], u) * ctx.scale[o] + ctx.terms[o] * eta for o in ctx.outputs}


def integer_exact(ctx: BoundContext) -> bool:
    """True when every product and partial sum of an integer-valued case is exactly
    representable in the tested dtype, so a direct sum in any order must be exact."""
    limit = 2.0 ** MANTISSA_BITS[ctx.spec.dtype]
    arrays = [ctx.x, ctx.w, ctx.gy] + ([ctx.b] if ctx.b is not None else [])
    if any(a.size and not np.array_equal(a, np.round(a)) for a in arrays):
        return False
    return all(ctx.scale[o].size == 0 or float(ctx.scale[o].max()) < limit for o in ctx.outputs)
