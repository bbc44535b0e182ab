"""FFT plugin: its own normwise error model, polyphase stride, tiling, backward corners.

Truth is torch float64 on the rounded inputs (conv_oracle.oracles.torch_oracle), through the
same runner the differential suite uses; the bound is the plugin's declared model plus the
reference's own error. Hypothesis settings come from the active profile (ci/dev/thorough),
with an example cap so this file stays well under a minute.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conv_oracle import ConvSpec, NotSupported
from conv_oracle import bounds as B
from conv_oracle.cases import CaseArrays, make_arrays
from conv_oracle.compare import compare_output
from conv_oracle.oracles.torch_oracle import reference
from conv_oracle.runner import bound_context, run_case
from conv_oracle.strategies import cases
from conv_oracle.studies.fft_bound import half_scaled
from impls.fft import (FFTConv, FFTNormwise, Tiling, _from_phases, _phase_hw, _phase_kernel_hw, _to_phases,
                       plans)

PLUGIN = FFTConv()
LIMITS = dict(max_side=14, max_kernel=6, max_stride=3, max_dilation=3, max_elements=6000)


def _check(spec: ConvSpec, seed: int = 0, fill: str = "normal"):
    __tracebackhide__ = True
    result = run_case(PLUGIN, spec, seed, fill)
    assert result.ok, result.message()
    return result


# ---- the bound holds ------------------------------------------------------------------------
@settings(max_examples=40)
@given(cases(PLUGIN.capabilities, **LIMITS))
def test_bound_holds_on_fuzzed_cases(case):
    """Every output of fwd+bwd within the normwise bound, on both dtypes and every fill."""
    _check(*case)


@pytest.mark.parametrize("descriptor", [
    "n2c3h9w7f4k3x3s2x1p1,0,2,1d1x1g1b1 f32",         # asymmetric padding, non-dividing stride
    "n2c4h11w10f6k3x2s3x2p4,0,2,5d2x1g2b0 f64",      # perverse padding > effective kernel - 1
    "n1c2h5w5f2k5p6 f64",                            # padding larger than the kernel on all sides
    "n3c6h13w12f6k1s2g6 f32",                        # depthwise 1x1, stride 2
    "n2c4h16w16f4k5s4x3p2d2g2 f64",                  # stride > 1 with dilation and groups
    "n2c4h40w37f4k3s2d2 f32",                        # several overlap-save tiles
    "n1c3h7w7f2k7 f32",                              # kernel equal to the input
    "n4c32h64w64f32k11p5 f32",                       # bench layer f
])
def test_bound_holds_on_corners(descriptor):
    for fill in ("normal", "magnitudes"):
        _check(ConvSpec.parse(descriptor), seed=1, fill=fill)


def test_declared_unsupported_is_refused():
    with pytest.raises(NotSupported):
        PLUGIN.forward(np.zeros((1, 1, 3, 3), np.float16), np.zeros((1, 1, 3, 3), np.float16), None,
                       ConvSpec.parse("n1c1h3w3f1k3b0 f16"))


# ---- the normwise bound is needed: a per-element gamma_K bound falsely fails FFT ------------
@pytest.mark.parametrize("dtype", ["f32", "f64"])
def test_half_scaled_image_fails_gamma_k_but_not_normwise(dtype):
    """Right half of x scaled by 1e-4: FFT spreads the rounding error of the large half over the
    whole plane, so on the tiny half the error exceeds gamma_K * sum|x||w| (direct summation),
    although it is within the normwise bound everywhere. The report's study computes it, both
    verdicts from the harness's own bounds.total_bounds and compare.compare_output."""
    study = half_scaled(f"n1c8h64w64f8k9p4b0 {dtype}", plugin=PLUGIN)
    assert study["normwise"]["holds"], f"normwise bound violated: max ratio {study['normwise']['max_ratio']:.3g}"
    gamma_k = study["gamma_K"]
    assert gamma_k["would_fail"], "expected the per-element gamma_K bound to be exceeded somewhere"
    assert gamma_k["violations"] == gamma_k["violations_in_tiny_half"] > 0, f"violations should sit in the tiny half: {gamma_k}"
    assert study["tiny_outputs"] == 8 * 64 * (64 - 32 - 4)     # outputs from column 32 + 4 on read only the scaled half


# ---- polyphase stride, tiling, the model's shapes -----------------------------------------------
@settings(max_examples=30)
@given(st.integers(1, 3), st.integers(1, 3), st.integers(1, 17), st.integers(1, 17), st.integers(0, 2**32 - 1))
def test_phases_round_trip_exactly(sh, sw, h, w, seed):
    """Space-to-depth and back is a permutation: exact, whatever the size and stride."""
    a = np.random.default_rng(seed).standard_normal((2, 3, h, w))
    size = (-(-h // sh), -(-w // sw))
    back = _from_phases(_to_phases(a, (sh, sw), size), (sh, sw))
    assert back.shape[2] >= h and back.shape[3] >= w
    np.testing.assert_array_equal(back[:, :, :h, :w], a)
    assert not back[:, :, h:].any() and not back[:, :, :, w:].any()


@pytest.mark.parametrize("descriptor", ["n2c3h17w15f4k5s3x2p2,1,0,3 f64", "n1c4h23w23f2k7s2p5d2g2 f64",
                                        "n2c2h12w12f3k3s4p1 f64"])
def test_polyphase_stride_matches_subsampled_stride_one(descriptor):
    """The strided result (polyphase) equals torch's, and equals the stride-1 FFT result
    subsampled, within the two normwise bounds added."""
    spec = ConvSpec.parse(descriptor)
    one = spec.replace(stride=(1, 1))
    arrays = make_arrays(spec, 3)                                   # float64 already
    x, w, b = arrays.x, arrays.w, arrays.b
    y = PLUGIN.forward(x, w, b, spec)
    y1 = PLUGIN.forward(x, w, b, one)[:, :, ::spec.stride[0], ::spec.stride[1]]
    assert y.shape == spec.y_shape == y1.shape
    truth, scale = reference(spec, x, w, b, arrays.gy)
    bound = B.total_bounds(PLUGIN.error_model, bound_context(spec, arrays, scale, truth), "normal")["y"]
    strided = compare_output("y", y, truth["y"], bound, spec.dtype, scale["y"])
    assert strided.ok, strided.message()
    gy1 = np.zeros(one.y_shape)
    truth1, scale1 = reference(one, x, w, b, gy1)
    ctx1 = bound_context(one, CaseArrays(x, w, b, gy1), scale1, truth1)
    bound1 = B.total_bounds(PLUGIN.error_model, ctx1, "normal")["y"][:, :, ::spec.stride[0], ::spec.stride[1]]
    # |y - y1| <= |y - truth| + |truth - y1|: the two bounds added (triangle inequality)
    subsampled = compare_output("y", y, y1, bound + bound1, spec.dtype)
    assert subsampled.ok, subsampled.message()


@settings(max_examples=60)
@given(cases(PLUGIN.capabilities, max_side=40, max_kernel=9, max_elements=40000))
def test_tilings_cover_every_output(case):
    spec = case[0]
    for name, t in plans(spec).items():
        assert isinstance(t, Tiling)
        for grid, step, count, out, k in zip(t.grid, t.step, t.count, t.out, t.kernel):
            assert 1 <= step <= grid - k + 1, (name, t)        # no wrap-around onto kept outputs
            assert count * step >= out > (count - 1) * step, (name, t)
    assert plans(spec)["y"].out == spec.out_hw
    dx_out = (spec.h, spec.w) if spec.stride == (1, 1) else _phase_hw(spec)
    assert plans(spec)["dx"].out == dx_out and plans(spec)["dx"].kernel == _phase_kernel_hw(spec)


@pytest.mark.parametrize("descriptor", ["n2c4h9w7f6k3x2s2x1p1,0,2,1d2x1g2b1 f32", "n1c1h1w1f1k1b0 f64",
                                        "n3c6h13w12f6k1s2g6 f32"])
def test_model_bound_arrays_have_the_outputs_exact_shapes(descriptor):
    spec = ConvSpec.parse(descriptor)
    a64 = make_arrays(spec, 0).as_float64()
    truth, scale = reference(spec, a64.x, a64.w, a64.b, a64.gy)
    ctx = bound_context(spec, a64, scale)
    got = PLUGIN.error_model.bounds(ctx)
    assert set(got) == set(ctx.outputs)
    for o in ctx.outputs:
        assert got[o].shape == truth[o].shape, o
        assert got[o].dtype == np.float64 and got[o].flags.c_contiguous
        assert np.isfinite(got[o]).all() and (got[o] > 0).all(), o


def test_model_charges_single_precision_for_float32():
    """float32 runs in complex64: the declared rho is that of u = 2^-24, not of float64."""
    spec = ConvSpec.parse("n1c2h16w16f2k3p1 f32")
    grid = plans(spec)["y"].grid
    rho32, levels = FFTNormwise.rho(spec, grid)
    rho64, _ = FFTNormwise.rho(spec.replace(dtype="float64"), grid)
    assert rho32 > levels * 6 * 2.0**-24 and rho64 < levels * 7 * 2.0**-53
    x = np.ones((1, 2, 16, 16), np.float32)
    assert PLUGIN.forward(x, np.ones((2, 2, 3, 3), np.float32), np.zeros(2, np.float32), spec).dtype == np.float32
