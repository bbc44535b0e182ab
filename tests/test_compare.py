"""Exact checks and the error-bound comparison."""
import numpy as np

from conv_oracle.bounds import gamma
from conv_oracle.compare import compare_output


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
