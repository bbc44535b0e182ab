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


# ---- bound assembly: every "close enough" of the harness is decided below ---------------------
def terms(spec: ConvSpec) -> dict[str, int]:
    """K, the number of products summed for one element of each output."""
    taps = spec.kh * spec.kw
    ho, wo = spec.out_hw
    return {"y": (spec.c // spec.groups) * taps + int(spec.bias),
            "dx": (spec.f // spec.groups) * taps,
            "dw": spec.n * ho * wo, "db": spec.n * ho * wo}


def bound_context(spec: ConvSpec, arrays64, scale: dict) -> BoundContext:
    """The context of one case: float64 copies of its rounded inputs and the magnitudes."""
    outputs = ("y", "dx", "dw", "db") if spec.bias else ("y", "dx", "dw")
    return BoundContext(spec, arrays64.x, arrays64.w, arrays64.b, arrays64.gy, scale, terms(spec), outputs)


class ModelBoundError(ValueError):
    """A plugin's error model returned something that is not a bound: a failure of kind
    ``model``, blamed on the model, never a pass."""


def checked_model_bounds(model: ErrorModel, ctx: BoundContext) -> dict[str, np.ndarray]:
    """``model.bounds(ctx)``, each output checked: an array of exactly the output's shape,
    finite and non-negative everywhere. Anything else raises :class:`ModelBoundError`."""
    name = model.describe()
    try:
        raw = model.bounds(ctx)
    except Exception as exc:
        raise ModelBoundError(f"error model {name!r} raised {type(exc).__name__}: {exc}") from exc
    if not isinstance(raw, dict):
        raise ModelBoundError(f"error model {name!r} returned {type(raw).__name__}, expected a dict of arrays")
    out = {}
    for o in ctx.outputs:
        shape = ctx.scale[o].shape
        if o not in raw:
            raise ModelBoundError(f"error model {name!r} returned no bound for {o}")
        value = raw[o]
        if not isinstance(value, np.ndarray):
            raise ModelBoundError(f"error model {name!r}: bound of {o} is {type(value).__name__}, "
                                  f"expected an array of shape {shape}")
        if value.shape != shape:
            raise ModelBoundError(f"error model {name!r}: bound of {o} has shape {value.shape}, "
                                  f"expected exactly {shape} (no broadcasting)")
        value = value.astype(np.float64, copy=False)
        # Where an input NaN/Inf reaches the element (its magnitude is not finite) the truth is
        # not finite either and the NaN/Inf positions are compared exactly: no bound is used there.
        used = np.isfinite(ctx.scale[o])
        if np.isnan(value[used]).any():
            at = tuple(int(i) for i in np.argwhere(np.isnan(value) & used)[0])
            raise ModelBoundError(f"error model {name!r}: bound of {o} is NaN at {at} "
                                  f"({int(np.isnan(value[used]).sum())} of {value.size} elements)")
        if np.isinf(value[used]).any():
            at = tuple(int(i) for i in np.argwhere(np.isinf(value) & used)[0])
            raise ModelBoundError(f"error model {name!r}: bound of {o} is infinite at {at}: no bound "
                                  "(an accumulation length beyond 1/u, or an overflow in the model)")
        if (value[used] < 0).any():
            at = tuple(int(i) for i in np.argwhere((value < 0) & used)[0])
            raise ModelBoundError(f"error model {name!r}: bound of {o} is negative at {at} ({value[at]:.3g})")
        out[o] = value
    return out


def total_bounds(model: ErrorModel, ctx: BoundContext, fill: str) -> dict[str, np.ndarray]:
    """The declared (checked) bound plus the reference's own error; zero where an
    integer-valued case must be exact for a direct-summation model."""
    if fill == "integer" and model.exact_on_integer_data and integer_exact(ctx):
        return {o: np.zeros_like(ctx.scale[o]) for o in ctx.outputs}
    declared = checked_model_bounds(model, ctx)
    ref = reference_bound(ctx)
    return {o: declared[o] + ref[o] for o in ctx.outputs}


def cross_bounds(ctx: BoundContext) -> dict[str, np.ndarray]:
    """Two float64 direct sums of the same terms (torch and JAX) differ by at most
    2 gamma_K (1+gamma_K) s + 2 K eta."""
    u, eta = UNIT_ROUNDOFF[REFERENCE_DTYPE], UNDERFLOW_UNIT[REFERENCE_DTYPE]
    out = {}
    for o in ctx.outputs:
        g = gamma(ctx.terms[o], u)
        out[o] = 2 * g * (1 + g) * ctx.scale[o] + 2 * ctx.terms[o] * eta
    return out


def adjoint_limit(err_a: float, err_b: float, magnitude_a: float, magnitude_b: float, length: int) -> float:
    """How far two inner products <y,g> and <x,dx> (or <w,dw>) of one implementation may differ:
    each side's error from the model (``err``, sum of |weights| x bound) plus the float64
    rounding of both dot products of ``length`` terms (``magnitude``: sum of |terms|)."""
    return err_a + err_b + gamma(length, UNIT_ROUNDOFF[REFERENCE_DTYPE]) * (magnitude_a + magnitude_b)
