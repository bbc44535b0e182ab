"""Exact checks and the error-bound comparison."""
import numpy as np
import pytest

from conv_oracle.bounds import gamma
from conv_oracle.compare import compare_output, error_pattern_hint


def test_shape_mismatch_is_not_broadcast():
    truth = np.zeros((2, 3))
    v = compare_output("y", np.zeros((1, 3), np.float32), truth, np.ones_like(truth), "float32")
    assert v.kind == "shape" and not v.ok


def test_dtype_must_match():
    truth = np.zeros(3)
    assert compare_output("y", np.zeros(3), truth, np.ones(3), "float32").kind == "dtype"


def test_nonfinite_positions_must_match():
    truth = np.array([1.0, np.inf, np.nan])
    ok = compare_output("y", np.array([1.0, np.inf, np.nan], np.float32), truth, np.zeros(3), "float32")
    assert ok.ok
    for got in ([1.0, np.nan, np.nan], [np.inf, np.inf, np.nan], [1.0, -np.inf, np.nan]):
        v = compare_output("y", np.array(got, np.float32), truth, np.ones(3), "float32")
        assert v.kind == "nonfinite" and not v.ok


def test_bound_reports_worst_element_and_counts():
    truth = np.zeros((2, 2))
    got = np.array([[0.0, 0.5], [3.0, 0.0]])
    v = compare_output("dx", got, truth, np.ones((2, 2)), "float64")
    assert not v.ok and v.mismatched == 1 and v.total == 4 and v.worst_index == (1, 0) and v.max_ratio == 3.0
    assert "Mismatched elements: 1 / 4 (25.0%)" in v.message()


def test_zero_bound_requires_exact():
    v = compare_output("y", np.array([1.0]), np.array([1.0]), np.array([0.0]), "float64")
    assert v.ok and v.exact_required
    assert not compare_output("y", np.array([1.0 + 2**-52]), np.array([1.0]), np.array([0.0]), "float64").ok


def test_gamma():
    u = 2.0**-24
    assert gamma(1, u) == u / (1 - u)
    assert gamma(2**24, u) == float("inf")


def test_message_shows_returned_and_expected_values_at_the_worst_element():
    truth = np.array([1.0, 2.0, 3.0])
    v = compare_output("y", np.array([1.0, 2.5, 3.0]), truth, np.full(3, 0.1), "float64")
    assert not v.ok and v.worst_got == 2.5 and v.worst_expected == 2.0
    assert "got 2.5, expected 2.0" in v.message()


def test_an_exact_zero_is_reported_as_such_not_as_a_huge_ratio():
    truth, scale = np.array([0.0, 1.0]), np.array([0.0, 1.0])
    bound = np.array([2.0**-149, 1e-7])                      # the underflow term only, where the truth is 0
    v = compare_output("y", np.array([1e-3, 1.0], np.float32), truth, bound, "float32", scale)
    assert not v.ok and v.expected_zero and "expected exactly 0" in v.message() and "e+" not in v.message()


def test_a_bound_is_not_asserted_in_the_comparator():
    """The bound's shape is checked where it is assembled (bounds.checked_model_bounds), as a model failure."""
    from conv_oracle.bounds import ModelBoundError, bound_context, checked_model_bounds
    from conv_oracle.cases import make_arrays
    from conv_oracle.bounds import DirectSum, ErrorModel
    from conv_oracle.oracles.torch_oracle import magnitudes
    from conv_oracle.spec import ConvSpec

    class Broadcasting(ErrorModel):
        def bounds(self, ctx):
            return {o: np.ones(1) for o in ctx.outputs}

    spec = ConvSpec.parse("n1c2h4w4f2k3 f32")
    a = make_arrays(spec, 0).as_float64()
    ctx = bound_context(spec, a, magnitudes(spec, a.x, a.w, a.b, a.gy))
    assert set(checked_model_bounds(DirectSum(), ctx)) == set(ctx.outputs)
    with pytest.raises(ModelBoundError, match="expected exactly"):
        checked_model_bounds(Broadcasting(), ctx)


@pytest.mark.parametrize("transform,hint", [
    (lambda t, b: t * 3, "scaled by N=3"), (lambda t, b: t / 3, "divided by N=3"),
    (lambda t, b: t[..., ::-1, ::-1], "rotated 180"), (lambda t, b: np.swapaxes(t, -1, -2), "transposed"),
    (lambda t, b: t - b.reshape(1, -1, 1, 1), "off by exactly the bias"),
    (lambda t, b: np.concatenate([t[..., :1, :], t[..., :-1, :]], axis=-2), "shifted by one along h"),
])
def test_recognisable_error_patterns_get_a_hint(transform, hint):
    rng = np.random.default_rng(0)
    truth, bias = rng.standard_normal((3, 2, 5, 5)), rng.standard_normal(2)
    got = transform(truth, bias)
    assert hint in error_pattern_hint("y", got, truth, np.full_like(truth, 1e-12), n=3, bias=bias)
    assert error_pattern_hint("y", truth + rng.standard_normal(truth.shape), truth, np.full_like(truth, 1e-12),
                              n=3, bias=bias) == ""
