"""Hypothesis strategies: problem specs within (or outside) declared capabilities, and cases.

Specs come from a mixture of three generators ("families"), drawn in the shares the
profile states (:func:`family_shares`, printed by pytest, ``check`` and the report):

* **realistic**: the layers real networks run (3x3 s1 p1, 3x3 s2, 1x1 s1/s2, 7x7 s2 p3
  stems with C=3, 5x5 p2, depthwise and grouped 3x3, dilated 3x3 d2 p2, 'same' padding),
  with channel counts on both sides of SIMD and blocking sizes (1, 3, 4, 7, 8, 9, 15, 16,
  17, 31, 32, 33, 64) and image sides on both sides of tile sizes, down to an output of 1;
* **boundary**: a realistic layer with one field moved to its edge (odd size, a side of 1,
  one extra pad on one side, stride 2 on one axis only, one channel more or fewer);
* **adversarial**: independent draws that reach the corners where convolution code breaks:
  1x1 images, a kernel equal to the padded input, stride larger than the kernel, padding
  larger than the effective kernel minus 1, strides that do not divide the padded size,
  non-square everything, depthwise and grouped, bias absent, N = 1.

Every choice is drawn from an ascending list (smallest first) and the family index shrinks
towards "realistic", so a failure shrinks to the smallest configuration that still fails.
Sizes are bounded by a work budget (elements of x + w + y): the profile's
(:data:`conv_oracle.profiles.MAX_ELEMENTS`), or ``CONV_ORACLE_MAX_ELEMENTS``. Realistic and
boundary draws pick only sizes that fit the budget and only layers the capabilities admit,
so a plugin with narrow capabilities still gets its share of real layers.
"""
from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from functools import lru_cache

from hypothesis import assume, event, settings
from hypothesis import strategies as st

from . import config, profiles
from .cases import FILLS
from .plugin import Capabilities
from .spec import ConvSpec, SpecError

FAMILIES = ("realistic", "boundary", "adversarial")    # shrinking order: realistic first


# ---- settings of the current profile ---------------------------------------------------------
def current_profile() -> str:
    """The loaded conv-oracle profile; Hypothesis's own ``default`` counts as ``dev``."""
    name = settings.get_current_profile_name()
    return name if name in profiles.PROFILES else "dev"


def max_elements_budget(profile: str | None = None) -> int:
    """The work budget: ``CONV_ORACLE_MAX_ELEMENTS`` if set, else the profile's."""
    return config.max_elements(default=profiles.MAX_ELEMENTS[profile or current_profile()])


def family_shares(profile: str | None = None) -> dict[str, float]:
    """{family: share of drawn specs} stated for ``profile`` (default: the loaded one)."""
    return dict(profiles.FAMILY_SHARES[profile or current_profile()])


def family_examples(total: int, profile: str | None = None) -> dict[str, int]:
    """``total`` examples split by the stated shares (largest remainder; each family with a
    share gets at least one). The engine runs one search per family, so the shares hold
    exactly: within one mixed search Hypothesis's mutations favour the family with more
    choices (the adversarial one, by about 10 points)."""
    shares = {name: share for name, share in family_shares(profile).items() if share > 0}
    counts = {name: max(1, int(total * share)) for name, share in shares.items()}
    by_remainder = sorted(shares, key=lambda name: total * shares[name] - int(total * shares[name]), reverse=True)
    for name in by_remainder[:max(0, total - sum(counts.values()))]:
        counts[name] += 1
    return counts


def describe_draws(profile: str | None = None, drawn: dict[str, int] | None = None) -> str:
    """One line for headers and summaries: the stated family shares (with the examples each
    family ``drawn``, when given) and the work budget."""
    shares = ", ".join(f"{name} {share:.0%}" + (f" ({drawn.get(name, 0)} drawn)" if drawn is not None else "")
                       for name, share in family_shares(profile).items())
    return f"spec families {shares}; work budget {max_elements_budget(profile)} elements of x+w+y"


def _limit(declared: int | None, ours: int) -> int:
    return ours if declared is None else min(declared, ours)


# ---- adversarial --------------------------------------------------------------------------
@lru_cache(maxsize=None)
def _between(lo: int, hi: int):
    """``st.integers(lo, hi)``, built once: Hypothesis's own strategy cache costs ~10 us a lookup,
    about half the cost of the draw itself, and a case draws 10-20 of them."""
    return st.integers(lo, hi)


_BOOLEANS = st.booleans()


def _choose(draw, options):
    """One of ``options`` (a sequence, smallest first: shrinks towards options[0]). An index
    from a cached ``st.integers`` strategy: a new ``sampled_from`` per draw costs ~0.1 ms."""
    return options[draw(_between(0, len(options) - 1))]


def _choose_with_flag(draw, options) -> tuple:
    """(one of ``options``, a flag) from one draw: the flag is the low digit, so shrinking lowers
    either alone (Hypothesis's integer shrinker always tries the value minus 1 and minus 2,
    repeatedly). One draw instead of two: each costs ~20 us of Hypothesis's engine."""
    value = draw(_between(0, 2 * len(options) - 1))
    return options[value // 2], bool(value % 2)


def _adversarial(draw, capabilities: Capabilities | None = None, *, max_batch: int = 3, max_side: int = 9,
                 max_per_group: int = 4, max_groups: int = 4, max_kernel: int | None = None,
                 max_stride: int | None = None, max_dilation: int | None = None,
                 max_elements: int | None = None, dtypes=None, supported: bool = True) -> ConvSpec:
    """Independent draws of every field, inside ``capabilities`` (or, with
    ``supported=False``, outside them): the shape corners. Two-valued fields ride on the draw
    before them (:func:`_choose_with_flag`): bias on the dtype, "kernel equal to the padded
    input" on the padding."""
    caps = capabilities or Capabilities()
    budget = max_elements or max_elements_budget()
    max_kernel, max_stride, max_dilation = max_kernel or 5, max_stride or 3, max_dilation or 3
    if supported:
        lim_stride = _limit(caps.max_stride, max_stride)
        lim_dil = _limit(caps.max_dilation, max_dilation)
        kmin, kmax = caps.kernel_min, _limit(caps.kernel_max, max_kernel)
        dtypes = tuple(dtypes or caps.dtypes)
        dtype, bias = _choose_with_flag(draw, dtypes) if caps.bias else (_choose(draw, dtypes), False)
        groups = draw(_between(1, max_groups)) if caps.groups else 1
        symmetric = not caps.asymmetric_padding
    else:
        lim_stride, lim_dil, kmin, kmax = max_stride, max_dilation, 1, max_kernel + 2
        dtype, bias = _choose_with_flag(draw, ("float32", "float64", "float16", "bfloat16"))
        groups = draw(_between(1, max_groups))
        symmetric = False
    if supported and caps.bias_required:
        bias = True
    cg = draw(_between(1, max_per_group))          # cg == 1: depthwise when groups > 1
    fg = draw(_between(1, max_per_group))
    # declared constraints are drawn directly rather than filtered (square kernel, one stride, 'valid')
    kh = draw(_between(kmin, kmax))
    kw = kh if supported and caps.square_kernel else draw(_between(kmin, kmax))
    sh = draw(_between(1, lim_stride))
    sw = sh if supported and caps.equal_strides else draw(_between(1, lim_stride))
    dh, dw = draw(_between(1, lim_dil)), draw(_between(1, lim_dil))
    no_padding = supported and caps.valid_only
    sides = []
    for k, d in ((kh, dh), (kw, dw)):
        eff = d * (k - 1) + 1
        pads = _padding_options(eff)                # up to eff+1: "perverse" padding > eff-1
        if no_padding:
            lo = hi = 0
            equal = draw(_BOOLEANS)
        elif symmetric:
            lo, equal = _choose_with_flag(draw, pads)
            hi = lo
        else:
            lo = _choose(draw, pads)
            hi, equal = _choose_with_flag(draw, pads)
        smallest = max(1, eff - lo - hi)
        if equal:                                  # kernel equal to the padded input
            size = smallest
        else:
            size = draw(_between(smallest, max(smallest, max_side)))
        sides.append((size, (lo, hi)))
    (h, ph), (w, pw) = sides
    spec = ConvSpec(draw(_between(1, max_batch)), cg * groups, h, w, fg * groups, kh, kw,
                    (sh, sw), (ph, pw), (dh, dw), groups, bias, dtype)
    assume(spec.elements <= budget)
    reasons = caps.unsupported_reasons(spec)
    assume(not reasons if supported else bool(reasons))
    return spec


@lru_cache(maxsize=None)
def _padding_options(effective_kernel: int) -> tuple[int, ...]:
    return tuple(range(effective_kernel + 2))


adversarial_specs = st.composite(_adversarial)


# ---- realistic ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Layer:
    """A layer configuration of real networks; sizes are drawn around it."""

    name: str
    k: int
    stride: int = 1
    dilation: int = 1
    padding: int | str = 0        # per side, or "same" (PyTorch: the odd pixel bottom/right)
    groups: str = "dense"         # dense | depthwise | grouped
    stem: bool = False            # C = 3 (an RGB image)

    def padding_pairs(self):
        if self.padding == "same":
            total = self.dilation * (self.k - 1)
            return ((total // 2, total - total // 2),) * 2
        return ((self.padding, self.padding),) * 2


# Simplest first (the shrink target); 3x3 s1 p1, by far the most common layer, is listed
# four times so that it is drawn about a quarter of the realistic draws.
LAYERS = (
    Layer("1x1", 1),
    Layer("3x3", 3, padding=1), Layer("3x3", 3, padding=1), Layer("3x3", 3, padding=1), Layer("3x3", 3, padding=1),
    Layer("3x3 valid", 3),
    Layer("1x1 s2", 1, stride=2),
    Layer("3x3 s2", 3, stride=2, padding=1),
    Layer("depthwise 3x3", 3, padding=1, groups="depthwise"),
    Layer("depthwise 3x3 s2", 3, stride=2, padding=1, groups="depthwise"),
    Layer("grouped 3x3", 3, padding=1, groups="grouped"),
    Layer("dilated 3x3 d2", 3, dilation=2, padding=2),
    Layer("5x5", 5, padding=2),
    Layer("2x2 same", 2, padding="same"),
    Layer("4x4 same", 4, padding="same"),
    Layer("3x3 s2 stem", 3, stride=2, padding=1, stem=True),
    Layer("7x7 s2 stem", 7, stride=2, padding=3, stem=True),
)
LAYER_NAMES = tuple(dict.fromkeys(layer.name for layer in LAYERS))
CHANNELS = (1, 3, 4, 7, 8, 9, 15, 16, 17, 31, 32, 33, 64)     # both sides of SIMD widths and blocks
GROUPS = (2, 4, 8)
PER_GROUP = (1, 2, 4, 8, 16)
SIDES = (1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 13, 14, 15, 16, 17, 24, 31, 32, 33, 48, 63, 64)  # around tiles of 2, 4, 6, 8, 16
BATCHES = (1, 2, 4)


def _smallest_side(layer: Layer) -> int:
    eff = layer.dilation * (layer.k - 1) + 1
    return max(1, eff - sum(layer.padding_pairs()[0]))


@lru_cache(maxsize=None)
def _geometry(layer: Layer) -> tuple[int, int, int]:
    """(k*k, stride, padding minus the effective kernel): a layer's constants for counting
    elements (its padding is the same on both axes)."""
    (top, bottom), _ = layer.padding_pairs()
    return layer.k * layer.k, layer.stride, top + bottom - layer.dilation * (layer.k - 1) - 1


def _fits(layer: Layer, budget: int, n, c, h, w, f, g) -> bool:
    """Whether the layer on this input fits ``budget`` elements of x + w + y (without building
    and validating a ConvSpec)."""
    kk, stride, slack = _geometry(layer)
    ho, wo = max((h + slack) // stride + 1, 0), max((w + slack) // stride + 1, 0)
    return n * c * h * w + f * (c // g) * kk + n * f * ho * wo <= budget


def _fitting(candidates: tuple[int, ...], fits) -> tuple[int, ...]:
    """The leading ``candidates`` (ascending) that ``fits``: elements grow with every size
    field, so those that fit are a prefix, found by bisection."""
    return candidates[:bisect_left(candidates, True, key=lambda value: not fits(value))]


@lru_cache(maxsize=256)
def _admitted_layers(caps: Capabilities, max_kernel: int | None, max_stride: int | None,
                     max_dilation: int | None) -> tuple[Layer, ...]:
    """The layers ``caps`` (and the caller's limits) admit, judged on a small instance with
    any admitted dtype and bias: what a capability rules out is never drawn."""
    admitted = []
    for layer in LAYERS:
        if (max_kernel and layer.k > max_kernel) or (max_stride and layer.stride > max_stride) \
                or (max_dilation and layer.dilation > max_dilation):
            continue
        c = 3 if layer.stem else 2
        g = {"dense": 1, "depthwise": c, "grouped": 2}[layer.groups]
        side = max(8, _smallest_side(layer))
        instances = (ConvSpec(1, c, side, side, c, layer.k, layer.k, (layer.stride,) * 2, layer.padding_pairs(),
                              (layer.dilation,) * 2, g, bias, dtype)
                     for dtype in caps.dtypes for bias in (False, True))
        if any(not caps.unsupported_reasons(s) for s in instances):
            admitted.append(layer)
    return tuple(admitted)


def _admitted(caps, max_kernel, max_stride, max_dilation):
    try:
        return _admitted_layers(caps, max_kernel, max_stride, max_dilation)
    except TypeError:            # an unhashable Capabilities subclass: no cache
        return _admitted_layers.__wrapped__(caps, max_kernel, max_stride, max_dilation)


def _pick(draw, options):
    """Draw from an ascending tuple (shrinks towards its first entry); None when empty."""
    return _choose(draw, options) if options else None


# The options of each field of a realistic layer that keep a case within the budget, given the
# fields drawn before it (the smallest side for those not drawn yet). Cached: the same few hundred
# combinations recur in every search.
@lru_cache(maxsize=None)
def _per_group_options(layer: Layer, budget: int, g: int) -> tuple[int, ...]:
    side = _smallest_side(layer)
    return _fitting(PER_GROUP, lambda k: _fits(layer, budget, 1, g * k, side, side, g * k, g))


@lru_cache(maxsize=None)
def _channel_options(layer: Layer, budget: int) -> tuple[int, ...]:
    side = _smallest_side(layer)
    return (3,) if layer.stem else _fitting(CHANNELS, lambda k: _fits(layer, budget, 1, k, side, side, 1, 1))


@lru_cache(maxsize=None)
def _filter_options(layer: Layer, budget: int, c: int) -> tuple[int, ...]:
    side = _smallest_side(layer)
    return _fitting(CHANNELS, lambda k: _fits(layer, budget, 1, c, side, side, k, 1))


@lru_cache(maxsize=None)
def _batch_options(layer: Layer, budget: int, c: int, f: int, g: int) -> tuple[int, ...]:
    side = _smallest_side(layer)
    return _fitting(BATCHES, lambda k: _fits(layer, budget, k, c, side, side, f, g))


@lru_cache(maxsize=None)
def _side_range(smallest: int, max_side: int) -> tuple[int, ...]:
    """The listed sides from ``smallest`` to ``max_side``."""
    return SIDES[bisect_left(SIDES, smallest):bisect_right(SIDES, max_side)]


@lru_cache(maxsize=None)
def _side_options(layer: Layer, budget: int, max_side: int, n: int, c: int, f: int, g: int,
                  square: bool, h: int | None = None) -> tuple[int, ...]:
    """Square sides; heights (``h`` None) with the smallest width; widths under height ``h``."""
    smallest = _smallest_side(layer)
    sides = _side_range(smallest, max_side)
    if square:
        return _fitting(sides, lambda s: _fits(layer, budget, n, c, s, s, f, g))
    if h is None:
        return _fitting(sides, lambda s: _fits(layer, budget, n, c, s, smallest, f, g))
    return _fitting(sides, lambda s: _fits(layer, budget, n, c, h, s, f, g))


def _bias_is_free(caps: Capabilities, dtypes: tuple[str, ...]) -> bool:
    """Whether bias is declared, and not required, in every one of ``dtypes`` (their limits
    included): then a case is supported with a bias exactly when it is without one."""
    if not caps.bias or caps.bias_required:
        return False
    limits = (caps.dtype_limits.get(dtype) for dtype in dtypes)
    return all(limit is None or (limit.bias and not limit.bias_required) for limit in limits)


@lru_cache(maxsize=4096)
def _bias_options_of(caps: Capabilities, spec: ConvSpec) -> tuple[ConvSpec, ...]:
    return tuple(s for s in (spec, spec.replace(bias=True)) if not caps.unsupported_reasons(s))


def _bias_options(caps: Capabilities, spec: ConvSpec) -> tuple[ConvSpec, ...]:
    """``spec`` without and with bias, those the capabilities allow."""
    try:
        return _bias_options_of(caps, spec)
    except TypeError:            # an unhashable Capabilities subclass: no cache
        return _bias_options_of.__wrapped__(caps, spec)


def _realistic(draw, caps: Capabilities, layers, budget: int, max_side: int,
               dtypes) -> tuple[str, ConvSpec, bool] | None:
    """(layer name, spec, whether the capabilities allow it) of a realistic layer that fits
    ``budget``, or None if nothing fits."""
    layer = _choose(draw, layers)
    # Two channel draws for every layer (a fixed one is drawn from one option): Hypothesis
    # shrinks shorter choice sequences first, so an unequal count would let a layer with
    # fewer draws win over a smaller one.
    if layer.groups == "grouped":
        g = _choose(draw, GROUPS)
        cg = _pick(draw, _per_group_options(layer, budget, g))
        if cg is None:
            return None
        c = f = g * cg
    else:
        c = _pick(draw, _channel_options(layer, budget))
        if c is None:
            return None
        if layer.groups == "depthwise":
            g = f = _pick(draw, (c,))
        else:
            g = 1
            f = _pick(draw, _filter_options(layer, budget, c))
    n = _pick(draw, _batch_options(layer, budget, c, f, g)) if f is not None else None
    if f is None or n is None:
        return None
    if draw(_between(0, 3)) < 3:                    # three quarters square; shrinks to square
        h = w = _pick(draw, _side_options(layer, budget, max_side, n, c, f, g, True))
    else:
        h = _pick(draw, _side_options(layer, budget, max_side, n, c, f, g, False))
        w = _pick(draw, _side_options(layer, budget, max_side, n, c, f, g, False, h)) if h else None
    if h is None or w is None:
        return None
    dtypes = tuple(dtypes or caps.dtypes)
    if _bias_is_free(caps, dtypes):                    # one draw: bias rides on the dtype
        dtype, bias = _choose_with_flag(draw, dtypes)
        spec = ConvSpec(n, c, h, w, f, layer.k, layer.k, (layer.stride,) * 2, layer.padding_pairs(),
                        (layer.dilation,) * 2, g, bias, dtype)
        return layer.name, spec, not caps.unsupported_reasons(spec)
    dtype = _choose(draw, dtypes)
    spec = ConvSpec(n, c, h, w, f, layer.k, layer.k, (layer.stride,) * 2, layer.padding_pairs(),
                    (layer.dilation,) * 2, g, False, dtype)
    options = _bias_options(caps, spec)                # bias a capability allows
    return (layer.name, _choose(draw, options), True) if options else (layer.name, spec, False)


# ---- boundary -------------------------------------------------------------------------------
# Each move lists (label, field changes) that take one field of a realistic layer to an edge.
def _odd_size(spec):
    for axis in ("h", "w"):
        side = getattr(spec, axis)
        yield axis, {axis: side + 1 if side % 2 == 0 else side + 2}


def _unit_side(spec):
    for axis in ("h", "w"):
        if getattr(spec, axis) != 1:
            yield axis, {axis: 1}


def _extra_pad(spec):
    (pt, pb), (pl, pr) = spec.padding
    yield "bottom", {"padding": ((pt, pb + 1), (pl, pr))}
    yield "right", {"padding": ((pt, pb), (pl, pr + 1))}
    yield "top", {"padding": ((pt + 1, pb), (pl, pr))}
    yield "left", {"padding": ((pt, pb), (pl + 1, pr))}


def _one_axis_stride(spec):
    sh, sw = spec.stride
    if sh == sw:
        other = 2 if sh == 1 else 1
        yield "rows", {"stride": (other, sw)}
        yield "columns", {"stride": (sh, other)}


def _channel_edge(spec):
    if spec.groups == 1:
        for field in ("c", "f"):
            for step in (1, -1):
                if getattr(spec, field) + step >= 1:
                    yield f"{field}{step:+d}", {field: getattr(spec, field) + step}


BOUNDARY_MOVES = (
    ("odd-size", _odd_size),
    ("unit-side", _unit_side),
    ("extra-pad", _extra_pad),
    ("one-axis-stride", _one_axis_stride),
    ("channel-edge", _channel_edge),
)
BOUNDARY_NAMES = tuple(name for name, _ in BOUNDARY_MOVES)


def _variants(move, spec: ConvSpec, caps: Capabilities, budget: int) -> list[ConvSpec]:
    """The move's variants of ``spec`` that are possible, supported and within the budget."""
    out = []
    for _, changes in move(spec):
        try:
            moved = spec.replace(**changes)
        except SpecError:          # e.g. a side of 1 under a kernel wider than the padding
            continue
        if moved.elements <= budget and not caps.unsupported_reasons(moved):
            out.append(moved)
    return out


def _boundary(draw, caps: Capabilities, base: ConvSpec, budget: int) -> tuple[str, ConvSpec] | None:
    """(move name, spec): ``base`` with one field moved to its edge, by the drawn move or,
    if that one has no admissible variant, the next one that has."""
    first = draw(_between(0, len(BOUNDARY_MOVES) - 1))
    for i in range(len(BOUNDARY_MOVES)):
        name, move = BOUNDARY_MOVES[(first + i) % len(BOUNDARY_MOVES)]
        variants = _variants(move, base, caps, budget)
        if variants:
            return name, _choose(draw, variants)
    return None


# ---- the mixture ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Drawn:
    """A drawn spec and where it came from: family, layer name, boundary move."""

    family: str
    spec: ConvSpec
    layer: str = ""
    move: str = ""


def _family(draw, shares: dict[str, float]) -> str:
    """A family by its share: a percentile in 0..99 (shrinks to 0, the first family)."""
    point, edge = draw(_between(0, 99)), 0.0
    for name in FAMILIES:
        edge += 100 * shares.get(name, 0.0)
        if point < round(edge):
            return name
    return next(name for name in reversed(FAMILIES) if shares.get(name, 0.0) > 0)


def _drawn(draw, capabilities: Capabilities | None = None, *, family: str | None = None,
           max_elements: int | None = None, dtypes=None, max_kernel: int | None = None,
           max_stride: int | None = None, max_dilation: int | None = None, **adversarial_limits) -> Drawn:
    """A supported spec with its provenance (:class:`Drawn`), from the profile's mixture
    of families, or from ``family`` alone. ``adversarial_limits`` (max_batch, max_side,
    max_per_group, max_groups) shape the adversarial family only."""
    caps = capabilities or Capabilities()
    budget = max_elements or max_elements_budget()
    if caps.max_elements is not None:
        budget = min(budget, caps.max_elements)
    if family is not None and family not in FAMILIES:
        raise ValueError(f"unknown spec family {family!r}; known: {', '.join(FAMILIES)}")
    chosen = family or _family(draw, family_shares())
    layers = _admitted(caps, max_kernel, max_stride, max_dilation)
    if chosen != "adversarial" and layers:
        real = _realistic(draw, caps, layers, budget, profiles.MAX_SIDE[current_profile()], dtypes)
        if real is not None:
            layer, spec, supported = real
            moved = _boundary(draw, caps, spec, budget) if chosen == "boundary" else None
            if moved is not None or chosen == "realistic":
                assume(supported or moved is not None)     # a boundary variant is supported by construction
                event(f"spec family: {chosen}")
                event(f"realistic layer: {layer}")
                if moved is not None:
                    event(f"boundary move: {moved[0]}")
                    return Drawn(chosen, moved[1], layer, moved[0])
                return Drawn(chosen, spec, layer)
    # adversarial, or nothing realistic fits these capabilities and limits
    spec = _adversarial(draw, caps, max_kernel=max_kernel, max_stride=max_stride, max_dilation=max_dilation,
                        max_elements=budget, dtypes=dtypes, **adversarial_limits)
    event("spec family: adversarial")
    return Drawn("adversarial", spec)


drawn_specs = st.composite(_drawn)


@st.composite
def specs(draw, capabilities: Capabilities | None = None, *, supported: bool = True, **limits):
    """Specs inside ``capabilities`` from the mixture of families (or, with
    ``supported=False``, adversarial specs outside them, for the honesty check)."""
    if not supported:
        return _adversarial(draw, capabilities, supported=False, **limits)
    return _drawn(draw, capabilities, **limits).spec


_SEEDS = st.integers(0, 2**32 - 1)


def seeds():
    return _SEEDS


@lru_cache(maxsize=2)
def _fill_strategy(nonfinite: bool):
    weights = {"normal": 3, "integer": 2, "magnitudes": 2, "nonfinite": 1,   # most cases finite and random
               "extremes": 1}                                                # format edges: overflow, subnormals
    if not nonfinite:
        weights.pop("nonfinite")
    return st.sampled_from([f for f in FILLS if f in weights for _ in range(weights[f])])


def fills(capabilities: Capabilities | None = None):
    """Value fills; NaN/Inf inputs only for plugins that declare they place them exactly."""
    return _fill_strategy(capabilities is None or capabilities.nonfinite_inputs)


@st.composite
def cases(draw, capabilities: Capabilities | None = None, **limits):
    """(spec, seed, fill): everything needed to rebuild a case's arrays."""
    return _drawn(draw, capabilities, **limits).spec, draw(seeds()), draw(fills(capabilities))
