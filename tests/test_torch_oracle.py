"""The oracle's gathered path (small cases: im2col and matmuls in NumPy) against torch's own
``conv2d`` and ``convolution_backward`` in float64, on drawn grouped and ungrouped specs with
every geometry (stride, dilation, asymmetric padding, bias, batch) and every fill.

Two float64 sums of the same K products in different orders are each within gamma_K * scale
of the exact result, so they differ by at most the cross bound (``bounds.cross_bounds``):
that is what the reference's own error (``bounds.reference_bound``, 2 gamma_K scale + K eta)
already allows for. NaN/Inf positions and shapes must be identical, integer fills bit for bit.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conv_oracle.bounds import bound_context, cross_bounds
from conv_oracle.cases import FILLS, make_arrays
from conv_oracle.oracles import torch_oracle
from conv_oracle.spec import ConvSpec, SpecError


@st.composite
def grouped_specs(draw, min_groups=2):
    g = draw(st.integers(min_groups, 6))
    kh, kw = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    dilation = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = tuple((draw(st.integers(0, 4)), draw(st.integers(0, 4))) for _ in range(2))
    low_h = max(1, dilation[0] * (kh - 1) + 1 - sum(padding[0]))
    low_w = max(1, dilation[1] * (kw - 1) + 1 - sum(padding[1]))
    try:
        return ConvSpec(n=draw(st.integers(1, 3)), c=g * draw(st.integers(1, 3)), h=draw(st.integers(low_h, low_h + 6)),
                        w=draw(st.integers(low_w, low_w + 6)), f=g * draw(st.integers(1, 3)), kh=kh, kw=kw,
                        stride=(draw(st.integers(1, 3)), draw(st.integers(1, 3))), padding=padding,
                        dilation=dilation, groups=g, bias=draw(st.booleans()),
                        dtype=draw(st.sampled_from(["float32", "float64", "bfloat16"])))
    except SpecError as exc:      # the bounds above admit every drawn geometry
        raise AssertionError(exc) from exc


def _torch_grouped(spec, a):
    """torch's float64 path (per group when grouped): (truth, scale)."""
    truth = torch_oracle._fwd_bwd(spec, a.x, a.w, a.b, a.gy, spec.groups)
    scale = torch_oracle._fwd_bwd(spec, np.abs(a.x), np.abs(a.w), None if a.b is None else np.abs(a.b),
                                  np.abs(a.gy), spec.groups)
    return truth, scale


def assert_equally_valid(spec, a, fill, new, old, old_scale):
    """``new`` is the same float64 quantity as ``old`` up to summation order: same shapes and
    NaN/Inf positions, finite elements within the cross bound, integer fills bit for bit."""
    limits = cross_bounds(bound_context(spec, a, old_scale))
    assert set(new) == set(old)
    for o in old:
        got, want = new[o], old[o]
        assert got.shape == want.shape and got.dtype == want.dtype == np.float64, o
        for same in (np.isnan, np.isposinf, np.isneginf):
            assert np.array_equal(same(got), same(want)), (o, same.__name__)
        finite = np.isfinite(want)
        if fill == "integer":
            assert np.array_equal(got, want), o
        excess = np.abs(got[finite] - want[finite]) - limits[o][finite]
        assert not (excess > 0).any(), (o, float(excess.max()))


@settings(max_examples=300, deadline=None)
@given(spec=grouped_specs(), fill=st.sampled_from(FILLS), seed=st.integers(0, 2**16))
def test_grouped_cases_match_torchs_grouped_conv_within_the_float64_bound(spec, fill, seed):
    a = make_arrays(spec, seed, fill).as_float64()
    truth, scale = torch_oracle._gathered(spec, a.x, a.w, a.b, a.gy)
    old_truth, old_scale = _torch_grouped(spec, a)
    assert_equally_valid(spec, a, fill, truth, old_truth, old_scale)
    assert_equally_valid(spec, a, fill, scale, old_scale, old_scale)
    alone = torch_oracle._gathered(spec, a.x, a.w, a.b, a.gy, signed=False)[0]
    assert all(np.array_equal(alone[o], scale[o], equal_nan=True) for o in scale)   # the same sums with or without the truth


def _identical(a, b):
    return set(a) == set(b) and all(np.array_equal(a[o], b[o], equal_nan=True) for o in a)


@pytest.mark.parametrize("descriptor", ["n2c8h5w5f8k3p1,1,2,1g8b1 f64", "n3c9h5w2f9k2x1s3x1p0,1,1,0d3x1g3b1 bf16",
                                        "n2c6h5w5f6k3p1b1 f64", "n4c16h8w8f16k3p1g16b1 f32",
                                        "n4c8h10w10f8k3p1b1 f32"])      # the last two: torch's
def test_reference_takes_the_gathered_path_exactly_where_chosen(descriptor):
    """Small cases: reference and magnitudes are the gathered sums; large ones: torch's, bit for bit."""
    spec = ConvSpec.parse(descriptor)
    a = make_arrays(spec, 0).as_float64()
    truth, scale = torch_oracle.reference(spec, a.x, a.w, a.b, a.gy)
    taps = 2 * spec.n * spec.c * spec.kh * spec.kw * spec.out_hw[0] * spec.out_hw[1]
    gathered = taps <= torch_oracle.GATHERED_TAPS["grouped" if spec.groups > 1 else "ungrouped"]
    assert torch_oracle._gathers(spec) == gathered
    expected = torch_oracle._gathered(spec, a.x, a.w, a.b, a.gy) if gathered else _torch_grouped(spec, a)
    assert _identical(truth, expected[0]) and _identical(scale, expected[1])
    assert _identical(torch_oracle.magnitudes(spec, a.x, a.w, a.b, a.gy), expected[1])


@settings(max_examples=200, deadline=None)
@given(spec=grouped_specs(min_groups=1).map(lambda s: s.replace(groups=1, c=s.c // s.groups, f=s.f // s.groups)),
       fill=st.sampled_from(FILLS), seed=st.integers(0, 2**16))
def test_ungrouped_cases_match_torchs_conv_within_the_float64_bound(spec, fill, seed):
    a = make_arrays(spec, seed, fill).as_float64()
    truth, scale = torch_oracle._gathered(spec, a.x, a.w, a.b, a.gy)
    old_truth, old_scale = _torch_grouped(spec, a)
    assert_equally_valid(spec, a, fill, truth, old_truth, old_scale)
    assert_equally_valid(spec, a, fill, scale, old_scale, old_scale)


def test_a_wrong_gathered_answer_is_caught():
    """The comparison above is not vacuous: a tap read from the wrong padding side is an error far
    beyond the float64 bound."""
    spec = ConvSpec.parse("n2c4h5w5f4k3p0,2,1,1g2b1 f64")
    a = make_arrays(spec, 0).as_float64()
    shifted = spec.replace(padding=((2, 0), (1, 1)))     # same output shape, taps read one side off
    truth, _ = torch_oracle._gathered(shifted, a.x, a.w, a.b, a.gy)
    old_truth, old_scale = _torch_grouped(spec, a)
    with pytest.raises(AssertionError):
        assert_equally_valid(spec, a, "normal", truth, old_truth, old_scale)


def test_nonfinite_inputs_propagate_as_in_torch():
    """Inf in x times a zero weight is NaN in y and dw, as in torch's grouped path."""
    spec = ConvSpec.parse("n1c4h4w4f4k3p1g4b1 f64")
    a = make_arrays(spec, 1, "nonfinite").as_float64()
    a.w[0, 0, 1, 1] = 0.0
    a.x[0, 0, 1, 1] = np.inf
    truth, scale = torch_oracle.reference(spec, a.x, a.w, a.b, a.gy)
    old_truth, old_scale = _torch_grouped(spec, a)
    assert np.isnan(old_truth["y"]).any() and np.isnan(old_truth["dw"]).any()
    assert_equally_valid(spec, a, "nonfinite", truth, old_truth, old_scale)
    assert_equally_valid(spec, a, "nonfinite", scale, old_scale, old_scale)
