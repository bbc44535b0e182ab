"""Error models: the only place where "close enough" is decided.

Every bound is an array of the output's exact shape, in float64, derived from the error
analysis of the algorithm (Higham, *Accuracy and Stability of Numerical Algorithms*, 2nd
ed., ch. 2-3): a recursive or any-order sum of K products satisfies

    |fl(sum x_i w_i) - sum x_i w_i| <= gamma_K * sum |x_i||w_i| + K*eta,
    gamma_K = K u / (1 - K u),

with u the unit roundoff and eta the underflow unit. The harness computes the magnitude
``s = sum |x_i||w_i|`` for every output element (``BoundContext.scale``) and the number of
terms K (``BoundContext.terms``); a model turns them into a bound. The reference's own
rounding error is added by the harness (:func:`reference_bound`), never by a model.

Low and mixed precision (:class:`DirectSum` with a declared accumulation, input rounding
and bias placement; :class:`PerDtype` for a different model per storage dtype) is derived
in :class:`DirectSum`'s docstring.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .spec import LOW_PRECISION, ConvSpec

OUTPUTS = ("y", "dx", "dw", "db")

# Floating-point formats: (precision p in bits, including the implicit one; emin; emax).
# "tfloat32" is not a storage dtype: it is the input rounding of "fast" float32 paths
# (NVIDIA TF32, oneDNN's f32:tf32), 10 stored mantissa bits and float32's exponent range.
FORMATS = {
    "bfloat16": (8, -126, 127),
    "float16": (11, -14, 15),
    "tfloat32": (11, -126, 127),
    "float32": (24, -126, 127),
    "float64": (53, -1022, 1023),
}
# unit roundoff u = 2^-p and underflow unit eta = half the smallest subnormal, 2^(emin-p)
UNIT_ROUNDOFF = {f: 2.0**-p for f, (p, _, _) in FORMATS.items()}
UNDERFLOW_UNIT = {f: 2.0**(emin - p) for f, (p, emin, _) in FORMATS.items()}
MANTISSA_BITS = {f: p for f, (p, _, _) in FORMATS.items()}
REFERENCE_DTYPE = "float64"
#: What a low-precision storage dtype accumulates in unless a plugin says otherwise: the
#: contract of every mainstream library (oneDNN, cuDNN, XLA); storage-type accumulation
#: must be declared explicitly (``DirectSum(accumulate="storage")``).
DEFAULT_LOW_PRECISION_ACCUMULATION = "float32"


def gamma(k: int, u: float) -> float:
    """gamma_k = k u / (1 - k u); infinite once k u >= 1 (no bound exists)."""
    ku = k * u
    return ku / (1.0 - ku) if ku < 1.0 else float("inf")


def integer_valued(a: np.ndarray) -> bool:
    """Whether every element of ``a`` is an integer (``np.array_equal(a, np.round(a))``), the
    first element tried alone first: random data fails there, without rounding the array."""
    if a.size == 0:
        return True
    first = float(a.item(0))
    if math.isnan(first) or (math.isfinite(first) and first != round(first)):
        return False
    return bool(np.array_equal(a, np.round(a)))


def represents(wide: str, narrow: str) -> bool:
    """Whether every number of format ``narrow`` is exactly a number of format ``wide``
    (then converting to ``wide`` is exact): at least as many bits and as wide an exponent range."""
    (pw, lo_w, hi_w), (pn, lo_n, hi_n) = FORMATS[wide], FORMATS[narrow]
    return pw >= pn and lo_w <= lo_n and hi_w >= hi_n


@dataclass
class BoundContext:
    """What a model may use: the spec, the inputs rounded to the tested dtype and held in
    float64, and per output the magnitude array ``scale[o]`` and term count ``terms[o]``;
    ``truth[o]``, the float64 reference, when the caller has it (oracle-free relations do
    not: models then use ``scale`` in its place, since ``|y| <= scale``)."""

    spec: ConvSpec
    x: np.ndarray
    w: np.ndarray
    b: np.ndarray | None
    gy: np.ndarray
    scale: dict[str, np.ndarray]
    terms: dict[str, int]
    outputs: tuple[str, ...] = OUTPUTS
    truth: dict[str, np.ndarray] | None = None
    _reference_errors: dict[str, np.ndarray] = field(default_factory=dict, init=False, repr=False, compare=False)
    _integer_inputs: dict[str, bool] = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def u(self) -> float:
        return UNIT_ROUNDOFF[self.spec.dtype]

    @property
    def eta(self) -> float:
        return UNDERFLOW_UNIT[self.spec.dtype]

    def operands(self, output: str) -> list[np.ndarray]:
        """The float64 arrays whose products make up ``output``: y = x*w (+b), dx = gy*w,
        dw = x*gy, db = gy."""
        with_bias = [self.b] if self.b is not None else []
        return {"y": [self.x, self.w] + with_bias, "dx": [self.gy, self.w], "dw": [self.x, self.gy],
                "db": [self.gy]}[output]

    def magnitude(self, output: str) -> np.ndarray:
        """An upper bound on |exact result| per element: |truth| plus the reference's own error
        (see :func:`reference_bound`), or ``scale`` when there is no truth."""
        if self.truth is None or self.truth.get(output) is None:
            return self.scale[output] * (1 + gamma(self.terms[output], UNIT_ROUNDOFF[REFERENCE_DTYPE]))
        return np.abs(self.truth[output]) + self.reference_error(output)

    def integer_valued(self, a: np.ndarray) -> bool:
        """:func:`integer_valued` of ``a``, computed once for each of this context's inputs (x, w,
        b, gy): the harness's exactness check and a model's per-output ones ask about the same
        arrays again (up to 12 checks a case, each a full rounding pass on integer-looking data)."""
        for name in ("x", "w", "b", "gy"):
            if a is getattr(self, name):
                known = self._integer_inputs.get(name)
                if known is None:
                    known = self._integer_inputs[name] = integer_valued(a)
                return known
        return integer_valued(a)

    def reference_error(self, output: str) -> np.ndarray:
        """``2 gamma_K(u64) scale + K eta64`` per element: the float64 reference's own error (see
        :func:`reference_bound`), computed once per output (a model's output rounding uses it too)."""
        error = self._reference_errors.get(output)
        if error is None:
            k = self.terms[output]
            u, eta = UNIT_ROUNDOFF[REFERENCE_DTYPE], UNDERFLOW_UNIT[REFERENCE_DTYPE]
            error = self._reference_errors[output] = 2 * gamma(k, u) * self.scale[output] + k * eta
        return error


class ErrorModel:
    """Base class. ``bounds`` returns {output: bound array of that output's shape}."""

    name = "abstract"
    exact_on_integer_data = False  # integer-valued fills must then match bit for bit

    def bounds(self, ctx: BoundContext) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def describe(self) -> str:
        return self.name


class DirectSum(ErrorModel):
    """Direct summation of the K products of each output element, in any order, in a declared
    accumulation format, optionally of inputs rounded inside the implementation, with the
    result rounded to the storage dtype (the case's dtype).

    Declaration:

    * ``accumulate``: ``None`` (default): float32 for a bfloat16/float16 case, the storage
      dtype otherwise; ``"storage"``: the storage dtype always (a bfloat16 kernel summing in
      bfloat16 must say so); or a format name (``"float32"``, ``"float16"``, ``"bfloat16"``).
    * ``inputs``: ``None`` or a format the implementation rounds x, w (and b, gy) to before
      multiplying: ``"bfloat16"`` (oneDNN bf32, autocast), ``"tfloat32"`` (TF32 paths).
    * ``bias``: ``"before"`` (default): b is one more term of the sum, before the output is
      rounded; ``"after"``: the sum is rounded to storage, then b is added and rounded again.
    * ``flush_subnormals``: the accumulation flushes subnormals to zero (FTZ/DAZ): every
      underflow error is then up to the smallest normal instead of half the smallest subnormal.

    The output is rounded to the storage dtype exactly when the accumulation format holds
    numbers the storage dtype does not (:func:`represents`). An output returned in the
    accumulation dtype instead is a dtype failure, not a looser bound: dtypes are exact.

    Derivation, per output element with exact value ``y = sum_i x_i w_i (+ b)`` of K terms,
    ``S = sum |x_i||w_i| (+ |b|)`` (``ctx.scale``), ``M`` the largest input magnitude;
    ``u_a, eta_a`` of the accumulation, ``u_s, eta_s`` of storage, ``u_r, eta_r`` of the
    input rounding (Higham 2nd ed., Thm 2.2 with underflow: ``fl(t) = t(1+d) + e``,
    ``|d| <= u``, ``|e| <= eta``, ``d e = 0``).

    1. Input rounding. ``|x~ w~ - x w| <= (2u_r + u_r^2)|x||w| + eta_r((1+u_r)(|x|+|w|) + eta_r)``,
       so the exact sum of the rounded terms ``y~`` has ``|y~ - y| <= (2u_r + u_r^2) S + D_r`` with
       ``D_r = K eta_r (2M(1+u_r) + eta_r)``, and ``S~ = sum|x~||w~| <= (1+u_r)^2 S + D_r``
       (the bias, counted in K and S, is covered too). Without input rounding both terms are 0.
    2. Accumulation (Higham Lemma 3.1 / eq. (3.5), any order): ``|s^ - y~| <= gamma_K(u_a) S~ +
       K eta_a (1 + gamma_K(u_a))`` (only products underflow; subnormal sums are exact). When
       two inputs' bits fit the accumulator (bf16 or f16 products in float32: 8+8, 11+11 <= 24)
       the products are exact and gamma_{K-1} would do; gamma_K is kept for every case. This is
       the form of the block-FMA analysis of Blanchard, Higham, Lopez, Mary and Pranesh (SISC
       42(3), C124-C141, 2020: exact products, sums in the wider format) with blocks of any size.
       So ``E = |s^ - y| <= (2u_r+u_r^2) S + D_r + gamma_K(u_a)((1+u_r)^2 S + D_r) + K eta_a(1+gamma_K(u_a))``.
    3. Output rounding to storage (when the accumulator holds more than storage):
       ``|fl_s(s^) - s^| <= u_s |s^| + eta_s <= u_s(|y| + E) + eta_s``, so
       ``|y^ - y| <= u_s |y| + (1 + u_s) E + eta_s``. ``|y|`` is |truth| plus the reference's
       error (``ctx.magnitude``): rounding costs u_s of the *result*, not of S, which is what
       separates a float32 accumulator from a bfloat16/float16 one even when the sum cancels.
    4. Bias after the rounding (``bias="after"``, y only): ``t = fl_s(s^')`` of the bias-free
       sum, then ``y^ = fl_s(t + b)``: ``|y^ - y| <= u_s|y| + (1+u_s)|t - y'|`` and ``|t - y'| <=
       u_s S + (1+u_s) E + eta_s``; so one more ``(1+u_s)(u_s S + eta_s)``, and E gains (1+u_s).

    With storage accumulation (u_a = u_s, no input rounding) this is the classical
    ``gamma_K(u_s) S + K eta_s(1+gamma_K)``. Each output uses its own K (``ctx.terms``): C/g*KH*KW
    (+1 with bias) for y, F/g*KH*KW for dx, N*Ho*Wo for dw and db; padding taps add exact zeros,
    so counting them in K only loosens the bound slightly. ``tests/test_bounds.py`` checks the
    derivation on worst cases (long sums that cancel, ties in the output rounding).

    Integer-valued inputs make an element exact when every partial sum is an integer below
    2^p_a (``S < 2^p_a``) and the result fits storage (``|y| <= 2^p_s``, or no output rounding):
    the bound there is 0, bit for bit, whatever the fill is called.
    """

    name = "direct-sum"
    exact_on_integer_data = True
    BIAS = ("before", "after")

    def __init__(self, accumulate: str | None = None, *, inputs: str | None = None, bias: str = "before",
                 flush_subnormals: bool = False):
        if accumulate not in (None, "storage") and accumulate not in FORMATS:
            raise ValueError(f"accumulate={accumulate!r}: give None, 'storage' or one of {', '.join(FORMATS)}")
        if inputs is not None and inputs not in FORMATS:
            raise ValueError(f"inputs={inputs!r}: give None or one of {', '.join(FORMATS)}")
        if bias not in self.BIAS:
            raise ValueError(f"bias={bias!r}: give 'before' or 'after' (the output rounding)")
        self.accumulate, self.inputs, self.bias = accumulate, inputs, bias
        self.flush_subnormals = bool(flush_subnormals)
        # An accumulator narrower than some storage dtype cannot promise exact integer sums of
        # that dtype in general: decided per element in bounds() instead of by the harness.
        self.exact_on_integer_data = accumulate in (None, "storage") and inputs is None

    # ---- what the declaration means for one storage dtype ----------------------------------
    def accumulation(self, storage: str) -> str:
        if self.accumulate == "storage":
            return storage
        if self.accumulate is None:
            return DEFAULT_LOW_PRECISION_ACCUMULATION if storage in LOW_PRECISION else storage
        return self.accumulate

    def rounds_output(self, storage: str) -> bool:
        return not represents(storage, self.accumulation(storage))

    def _eta(self, fmt: str) -> float:
        return 2.0**FORMATS[fmt][1] if self.flush_subnormals else UNDERFLOW_UNIT[fmt]

    def bounds(self, ctx: BoundContext) -> dict[str, np.ndarray]:
        storage = ctx.spec.dtype
        acc = self.accumulation(storage)
        u_a, eta_a = UNIT_ROUNDOFF[acc], self._eta(acc)
        u_s, eta_s = UNIT_ROUNDOFF[storage], self._eta(storage)
        rounds = self.rounds_output(storage)
        out = {}
        for o in ctx.outputs:
            k, s = ctx.terms[o], ctx.scale[o]
            g = gamma(k, u_a)
            operands = ctx.operands(o)
            if self.inputs is not None and not represents(self.inputs, storage):
                u_r, eta_r = UNIT_ROUNDOFF[self.inputs], self._eta(self.inputs)
                big = max((float(np.abs(a).max()) for a in operands if a.size), default=0.0)
                d_r = k * eta_r * (2 * big * (1 + u_r) + eta_r)
                err = (2 * u_r + u_r * u_r) * s + d_r + g * ((1 + u_r) ** 2 * s + d_r)
            else:
                err = g * s
            err = err + k * eta_a * (1 + g)
            if rounds:
                after = self.bias == "after" and o == "y" and ctx.b is not None
                if after:
                    err = (1 + u_s) * err + u_s * s + eta_s
                err = u_s * ctx.magnitude(o) + (1 + u_s) * err + eta_s
            exact = self._exact_integer(ctx, o, acc, rounds)
            out[o] = err if exact is False else np.where(exact, 0.0, err)   # False: no element is exact
        return out

    def _exact_integer(self, ctx: BoundContext, o: str, acc: str, rounds: bool):
        """Per element: integer inputs, partial sums exact in the accumulator, result exact in storage."""
        if not all(ctx.integer_valued(a) for a in ctx.operands(o)):
            return False
        exact = ctx.scale[o] < 2.0 ** MANTISSA_BITS[acc]
        if rounds:
            limit = 2.0 ** MANTISSA_BITS[ctx.spec.dtype]
            exact &= ctx.magnitude(o) <= limit
            if self.bias == "after" and o == "y":   # the bias-free sum is rounded first
                exact &= ctx.scale[o] <= limit
        return exact

    def describe(self) -> str:
        acc = {None: "float32 for bf16/f16, else the storage dtype", "storage": "the storage dtype"}.get(
            self.accumulate, self.accumulate)
        parts = [f"accumulating in {acc}"]
        if self.inputs:
            parts.append(f"inputs rounded to {self.inputs}")
        parts.append(f"output rounded to storage, bias {self.bias} that rounding")
        if self.flush_subnormals:
            parts.append("subnormals flushed")
        return "direct-sum: |err| <= u_s|y| + (1+u_s)gamma_K(u_acc)*sum|x||w| + underflow per element; " + ", ".join(parts)


class PerDtype(ErrorModel):
    """A model per storage dtype: ``PerDtype({"bfloat16": DirectSum(accumulate="float32"),
    "float32": DirectSum(inputs="tfloat32")}, default=DirectSum())``. A case of a dtype with
    no model and no ``default`` is a declaration error (ValueError), never an unbounded pass."""

    name = "per-dtype"

    def __init__(self, models: dict[str, ErrorModel], default: ErrorModel | None = None):
        for dtype, model in models.items():
            if dtype not in FORMATS:
                raise ValueError(f"PerDtype: {dtype!r} is not a dtype; known: {', '.join(FORMATS)}")
            if not isinstance(model, ErrorModel):
                raise TypeError(f"PerDtype: the model for {dtype} is a {type(model).__name__}, not an ErrorModel")
        self.models, self.default = dict(models), default
        every = list(self.models.values()) + ([default] if default is not None else [])
        self.exact_on_integer_data = all(m.exact_on_integer_data for m in every)

    def model_for(self, dtype: str) -> ErrorModel:
        model = self.models.get(dtype, self.default)
        if model is None:
            raise ValueError(f"PerDtype declares no error model for {dtype} (declared: {', '.join(self.models)})")
        return model

    def bounds(self, ctx: BoundContext) -> dict[str, np.ndarray]:
        return self.model_for(ctx.spec.dtype).bounds(ctx)

    def describe(self) -> str:
        parts = [f"{d}: {m.describe()}" for d, m in self.models.items()]
        if self.default is not None:
            parts.append(f"otherwise: {self.default.describe()}")
        return "per dtype: " + "; ".join(parts)


def reference_bound(ctx: BoundContext) -> dict[str, np.ndarray]:
    """Rounding error of the float64 reference itself, plus the rounding of ``scale``
    (computed in float64 from non-negative terms, so it may be low by gamma_K(u64))."""
    return {o: ctx.reference_error(o) for o in ctx.outputs}


def integer_exact(ctx: BoundContext) -> bool:
    """True when every product and partial sum of an integer-valued case is exactly
    representable in the tested dtype, so a direct sum in any order must be exact."""
    limit = 2.0 ** MANTISSA_BITS[ctx.spec.dtype]
    arrays = [ctx.x, ctx.w, ctx.gy] + ([ctx.b] if ctx.b is not None else [])
    if not all(ctx.integer_valued(a) for a in arrays):
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


def bound_context(spec: ConvSpec, arrays64, scale: dict, truth: dict | None = None) -> BoundContext:
    """The context of one case: float64 copies of its rounded inputs and the magnitudes (and the
    float64 truth when there is one: the output rounding of a low-precision model costs u|y|)."""
    outputs = ("y", "dx", "dw", "db") if spec.bias else ("y", "dx", "dw")
    return BoundContext(spec, arrays64.x, arrays64.w, arrays64.b, arrays64.gy, scale, terms(spec), outputs,
                        truth)


class ModelBoundError(ValueError):
    """A plugin's error model returned something that is not a bound: a failure of kind
    ``model``, blamed on the model, never a pass."""


def checked_model_bounds(model: ErrorModel, ctx: BoundContext) -> dict[str, np.ndarray]:
    """``model.bounds(ctx)``, each output checked: an array of exactly the output's shape,
    finite and non-negative everywhere. Anything else raises :class:`ModelBoundError`."""
    def failure(text: str) -> ModelBoundError:    # the model described only when it fails: most cases pass
        return ModelBoundError(f"error model {model.describe()!r}{text}")

    try:
        raw = model.bounds(ctx)
    except Exception as exc:
        raise failure(f" raised {type(exc).__name__}: {exc}") from exc
    if not isinstance(raw, dict):
        raise failure(f" returned {type(raw).__name__}, expected a dict of arrays")
    out = {}
    for o in ctx.outputs:
        shape = ctx.scale[o].shape
        if o not in raw:
            raise failure(f" returned no bound for {o}")
        value = raw[o]
        if not isinstance(value, np.ndarray):
            raise failure(f": bound of {o} is {type(value).__name__}, expected an array of shape {shape}")
        if value.shape != shape:
            raise failure(f": bound of {o} has shape {value.shape}, expected exactly {shape} (no broadcasting)")
        value = value.astype(np.float64, copy=False)
        if value.size == 0 or (value.min() >= 0 and value.max() < np.inf):   # the common case: nothing to locate
            # (a NaN makes both comparisons false: then the search below finds and names it)
            out[o] = value
            continue
        # Where an input NaN/Inf reaches the element (its magnitude is not finite) the truth is
        # not finite either and the NaN/Inf positions are compared exactly: no bound is used there.
        used = np.isfinite(ctx.scale[o])
        if np.isnan(value[used]).any():
            at = tuple(int(i) for i in np.argwhere(np.isnan(value) & used)[0])
            raise failure(f": bound of {o} is NaN at {at} "
                          f"({int(np.isnan(value[used]).sum())} of {value.size} elements)")
        if np.isinf(value[used]).any():
            at = tuple(int(i) for i in np.argwhere(np.isinf(value) & used)[0])
            raise failure(f": bound of {o} is infinite at {at}: no bound "
                          "(an accumulation length beyond 1/u, or an overflow in the model)")
        if (value[used] < 0).any():
            at = tuple(int(i) for i in np.argwhere((value < 0) & used)[0])
            raise failure(f": bound of {o} is negative at {at} ({value[at]:.3g})")
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


# ---- the training check's band (conv_oracle.train): over trajectories, not case outputs --------
def training_multiple(rho: dict[str, dict[str, float]]) -> float:
    """The band's multiple, ``1 + max(1, rho)``; ``rho[layer][output]`` is the plugin's declared bound
    over the direct-sum bound (what torch's float32 conv is held to), summed over the output.

    Why: while divergences stay small, a training trajectory responds linearly to the rounding
    injected at each step. The plugin injects at most rho times torch's conv rounding and the same
    rounding everywhere else, so ``d(plugin, exact) <= max(1, rho) W``, W the baseline width (the
    largest divergence from the exact run of any correct float32 torch run); the triangle
    inequality ``d(plugin, torch) <= d(plugin, exact) + d(exact, torch)`` adds one W. A direct-sum
    plugin gets 2."""
    return 1.0 + max(1.0, *(r for layer in rho.values() for r in layer.values()))


def outside_training_band(divergence: np.ndarray, width: float, multiple: float) -> np.ndarray:
    """The steps t at which ``divergence[t]`` (d(plugin, torch) per step) is not within
    ``multiple * width``; NaN is never inside."""
    return np.flatnonzero(~(divergence <= multiple * width))
