"""Hypothesis strategies: problem specs within (or outside) declared capabilities, and cases.

Sizes are bounded by keyword-only limits and by a work budget (elements of x + w + y,
from ``CONV_ORACLE_MAX_ELEMENTS``). The draws deliberately reach the corners where
convolution code breaks: 1x1 images, a kernel equal to the padded input, stride larger
than the kernel, padding larger than the effective kernel minus 1, strides that do not
divide the padded size, non-square everything, depthwise and grouped, bias absent, N = 1.
"""
from __future__ import annotations

from hypothesis import assume
from hypothesis import strategies as st

from . import config
from .cases import FILLS
from .plugin import Capabilities
from .spec import ConvSpec


def max_elements_budget() -> int:
    return config.max_elements()


def _limit(declared: int | None, ours: int) -> int:
    return ours if declared is None else min(declared, ours)


@st.composite
def specs(draw, capabilities: Capabilities | None = None, *, max_batch: int = 3, max_side: int = 9,
          max_per_group: int = 4, max_groups: int = 4, max_kernel: int = 5, max_stride: int = 3,
          max_dilation: int = 3, max_elements: int | None = None, dtypes=None, supported: bool = True):
    """Specs inside ``capabilities`` (or, with ``supported=False``, outside them)."""
    caps = capabilities or Capabilities()
    budget = max_elements or max_elements_budget()
    if supported:
        lim_stride = _limit(caps.max_stride, max_stride)
        lim_dil = _limit(caps.max_dilation, max_dilation)
        kmin, kmax = caps.kernel_min, _limit(caps.kernel_max, max_kernel)
        dtype = draw(st.sampled_from(tuple(dtypes or caps.dtypes)))
        groups = draw(st.integers(1, max_groups)) if caps.groups else 1
        symmetric = not caps.asymmetric_padding
        bias = draw(st.booleans()) if caps.bias else False
    else:
        lim_stride, lim_dil, kmin, kmax = max_stride, max_dilation, 1, max_kernel + 2
        dtype = draw(st.sampled_from(("float32", "float64", "float16", "bfloat16")))
        groups = draw(st.integers(1, max_groups))
        symmetric, bias = False, draw(st.booleans())
    if supported and caps.bias_required:
        bias = True
    cg = draw(st.integers(1, max_per_group))          # cg == 1: depthwise when groups > 1
    fg = draw(st.integers(1, max_per_group))
    # declared constraints are drawn directly rather than filtered (square kernel, one stride, 'valid')
    kh = draw(st.integers(kmin, kmax))
    kw = kh if supported and caps.square_kernel else draw(st.integers(kmin, kmax))
    sh = draw(st.integers(1, lim_stride))
    sw = sh if supported and caps.equal_strides else draw(st.integers(1, lim_stride))
    dh, dw = draw(st.integers(1, lim_dil)), draw(st.integers(1, lim_dil))
    no_padding = supported and caps.valid_only
    sides = []
    for k, d in ((kh, dh), (kw, dw)):
        eff = d * (k - 1) + 1
        lo = 0 if no_padding else draw(st.integers(0, eff + 1))   # up to eff+1: "perverse" padding > eff-1
        hi = lo if symmetric or no_padding else draw(st.integers(0, eff + 1))
        smallest = max(1, eff - lo - hi)
        if draw(st.booleans()):                        # kernel equal to the padded input
            size = smallest
        else:
            size = draw(st.integers(smallest, max(smallest, max_side)))
        sides.append((size, (lo, hi)))
    (h, ph), (w, pw) = sides
    spec = ConvSpec(draw(st.integers(1, max_batch)), cg * groups, h, w, fg * groups, kh, kw,
                    (sh, sw), (ph, pw), (dh, dw), groups, bias, dtype)
    assume(spec.elements <= budget)
    reasons = caps.unsupported_reasons(spec)
    assume(not reasons if supported else bool(reasons))
    return spec


def seeds():
    return st.integers(0, 2**32 - 1)


def fills(capabilities: Capabilities | None = None):
    """Value fills; NaN/Inf inputs only for plugins that declare they place them exactly."""
    weights = {"normal": 3, "integer": 2, "magnitudes": 2, "nonfinite": 1,   # most cases finite and random
               "extremes": 1}                                                # format edges: overflow, subnormals
    if capabilities is not None and not capabilities.nonfinite_inputs:
        weights.pop("nonfinite")
    return st.sampled_from([f for f in FILLS if f in weights for _ in range(weights[f])])


@st.composite
def cases(draw, capabilities: Capabilities | None = None, **limits):
    """(spec, seed, fill): everything needed to rebuild a case's arrays."""
    return draw(specs(capabilities, **limits)), draw(seeds()), draw(fills(capabilities))
