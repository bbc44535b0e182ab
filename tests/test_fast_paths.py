"""The per-case fast paths keep the verdicts: the one-partition median is numpy's, the quick
agreement test passes only what the full comparison passes, and the JAX cross-check sent in
batches still gives every case its own verdict (one bad case fails alone)."""
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from conv_oracle.cases import make_arrays
from conv_oracle.compare import _median, agrees, compare_output
from conv_oracle.oracles import torch_oracle
from conv_oracle.runner import AGREE, DISAGREE, CaseResult, CrossCheck, bound_context
from conv_oracle.spec import ConvSpec

finite = st.floats(-1e6, 1e6, allow_nan=False)
non_negative = st.floats(0, 1e6, allow_nan=False)


@given(arrays(np.float64, st.integers(1, 40), elements=st.floats(0, np.inf, allow_nan=False)))
def test_the_one_partition_median_is_numpys(values):
    assert _median(values) == float(np.median(values))


@settings(max_examples=300)
@given(st.integers(1, 30).flatmap(lambda n: st.tuples(arrays(np.float64, n, elements=finite),
                                                       arrays(np.float64, n, elements=finite),
                                                       arrays(np.float64, n, elements=non_negative))))
def test_agrees_only_where_the_comparison_passes(arrays_):
    got, truth, bound = arrays_
    verdict = compare_output("y", got, truth, bound, "float64")
    assert agrees(got, truth, bound, "float64") == verdict.ok


def test_agrees_refuses_what_the_exact_checks_refuse():
    truth, bound = np.zeros((2, 3)), np.ones((2, 3))
    assert not agrees(np.zeros((3, 2)), truth, bound, "float64")             # shape
    assert not agrees(np.zeros((2, 3), np.float32), truth, bound, "float64")  # dtype
    assert not agrees(np.zeros(6).reshape(2, 3).tolist(), truth, bound, "float64")
    assert not agrees(np.full((2, 3), np.nan), np.full((2, 3), np.nan), bound, "float64")   # judged in full


def _case(descriptor, seed):
    spec = ConvSpec.parse(descriptor)
    a = make_arrays(spec, seed).as_float64()
    truth, scale = torch_oracle.reference(spec, a.x, a.w, a.b, a.gy)
    return CaseResult("test", spec.descriptor(), seed, "normal", "pass"), a, truth, bound_context(spec, a, scale, truth)


def test_batched_cross_check_gives_every_case_its_verdict(jax_worker):
    """Many cases sent at once go to the worker in batches; each gets its own verdict, and a
    case the worker cannot evaluate (no weight array) is an error of its own."""
    check = CrossCheck(jax_worker)
    cases = [_case(d, seed) for seed in range(12) for d in ("n2c3h5w5f4k3p1", "n1c4h6w6f4k3s2p1g2b0")]
    bad_result, bad_arrays, bad_truth, bad_ctx = _case("n1c2h4w4f2k3p1", 99)
    wrong = type(bad_arrays)(bad_arrays.x, None, bad_arrays.b, bad_arrays.gy)
    for result, a, truth, ctx in cases[:10]:
        check.submit(result, a, truth, ctx)
    check.submit(bad_result, wrong, bad_truth, bad_ctx)
    for result, a, truth, ctx in cases[10:]:
        check.submit(result, a, truth, ctx)
    done = {id(r): r for r in check.finished(wait=True)}
    assert len(done) == len(cases) + 1
    assert all(done[id(result)].jax["status"] == AGREE for result, *_ in cases)
    assert done[id(bad_result)].jax["status"] == "error" and done[id(bad_result)].jax["detail"]


def test_a_disagreeing_jax_answer_is_caught_through_the_quick_test(jax_worker):
    """The truth perturbed by far more than the cross bound: the quick test must not pass it."""
    result, a, truth, ctx = _case("n2c3h5w5f4k3p1", 5)
    truth = dict(truth, dx=truth["dx"] + 1e-6 * (np.abs(truth["dx"]) + 1))
    check = CrossCheck(jax_worker)
    check.submit(result, a, truth, ctx)
    (judged,) = check.finished(wait=True)
    assert judged.jax["status"] == DISAGREE and [v["output"] for v in judged.jax["verdicts"]] == ["dx"]


# ---- the in-process case path: each shortcut against the plain form it replaces ----------------
any_float = st.floats(allow_nan=True, allow_infinity=True, width=64)
integer_or_not = st.one_of(st.integers(-5, 5).map(float), any_float, st.just(-0.0))


@given(arrays(np.float64, st.integers(0, 12), elements=integer_or_not))
def test_integer_valued_is_the_array_equal_to_its_rounding(values):
    from conv_oracle.bounds import integer_valued

    assert integer_valued(values) == bool(np.array_equal(values, np.round(values)))


def _plain_verdict(got, truth, bound):
    """compare_output's numbers by the plain formulas (masked arrays, where-form ratio, numpy's
    norm and median): what each fast path must reproduce bit for bit."""
    finite = np.isfinite(truth)
    err = np.where(finite, np.abs(got - np.where(finite, truth, 0.0)), 0.0)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ratio = np.where(err == 0, 0.0, err / bound)
    worst = np.unravel_index(int(np.argmax(ratio)), ratio.shape)
    norm = float(np.linalg.norm(np.where(finite, truth, 0.0)))
    return (int(np.count_nonzero(err > bound)), tuple(int(i) for i in worst), float(ratio[worst]),
            float(np.median(ratio)), not bound.any(),
            float(np.linalg.norm(np.where(finite, bound, 0.0)) / norm) if norm > 0 else None)


small = st.floats(-1e3, 1e3, allow_nan=False)
spiky = st.one_of(small, st.sampled_from([np.nan, np.inf, -np.inf, 0.0]))


@settings(max_examples=300)
@given(st.integers(1, 30).flatmap(lambda n: st.tuples(
    arrays(np.float64, n, elements=spiky), arrays(np.float64, n, elements=small),
    arrays(np.float64, n, elements=st.one_of(st.just(0.0), st.floats(0, 1e3))), st.booleans())))
def test_the_comparison_keeps_the_plain_formulas(case):
    """Finite and NaN/Inf values (the same positions in got and truth), zero and positive bounds."""
    values, noise, bound, same = case
    truth = values
    got = np.where(np.isfinite(values), values + noise * 1e-3 if not same else values, values)
    with np.errstate(over="ignore"):
        verdict = compare_output("y", got, truth, bound, "float64")
    assert verdict.kind in ("ok", "bound")
    assert (verdict.mismatched, verdict.worst_index, verdict.max_ratio, verdict.median_ratio,
            verdict.exact_required, verdict.bound_power) == _plain_verdict(got, truth, bound)


def test_a_nonfinite_value_of_its_own_is_still_found():
    truth, bound = np.ones(5), np.ones(5)
    for bad in (np.nan, np.inf, -np.inf):
        got = truth.copy()
        got[3] = bad
        verdict = compare_output("y", got, truth, bound, "float64")
        assert verdict.kind == "nonfinite" and "index (3,)" in verdict.detail
        verdict = compare_output("y", truth, got, bound, "float64")
        assert verdict.kind == "nonfinite" and "index (3,)" in verdict.detail


@given(st.sampled_from([np.nan, np.inf, -np.inf, -1.0]), st.integers(0, 17), st.booleans())
def test_a_bad_bound_is_named_wherever_it_is(bad, at, where_input_is_nonfinite):
    """The one-pass check of a model's bound still refuses NaN, Inf and negative bounds (and lets
    any bound stand where the case's magnitude is not finite)."""
    import pytest

    from conv_oracle.bounds import ErrorModel, ModelBoundError, checked_model_bounds

    spec = ConvSpec.parse("n1c2h4w4f2k3 f32")
    a = make_arrays(spec, 0).as_float64()
    truth, scale = torch_oracle.reference(spec, a.x, a.w, a.b, a.gy)
    if where_input_is_nonfinite:
        scale = dict(scale, y=scale["y"].copy())
        scale["y"].flat[at % scale["y"].size] = np.inf

    class OneBadElement(ErrorModel):
        def bounds(self, ctx):
            out = {o: np.ones_like(ctx.scale[o]) for o in ctx.outputs}
            out["y"].flat[at % out["y"].size] = bad
            return out

    ctx = bound_context(spec, a, scale, truth)
    if where_input_is_nonfinite:     # no bound is used there: the NaN/Inf positions are compared exactly
        kept = checked_model_bounds(OneBadElement(), ctx)["y"].flat[at % scale["y"].size]
        assert np.isnan(kept) if np.isnan(bad) else kept == bad
    else:
        with pytest.raises(ModelBoundError, match="NaN|infinite|negative"):
            checked_model_bounds(OneBadElement(), ctx)


def test_a_record_is_the_dataclass_dict():
    """CaseResult.to_dict and Verdict.to_dict, built field by field, give what dataclasses.asdict gave."""
    from dataclasses import asdict

    from conv_oracle import registry
    from conv_oracle.runner import run_case

    plugin = registry.load("conv_oracle.mutants:dilation_ignored")
    cases = (("n2c3h7w7f4k3p2d2", "normal"), ("n1c2h5w5f2k3p1", "nonfinite"), ("n1c2h5w5f2k3p1b0", "integer"))
    for descriptor, fill in cases:
        result = run_case(plugin, ConvSpec.parse(descriptor), 3, fill)
        result.jax = {"status": DISAGREE, "verdicts": [v.to_dict() for v in result.verdicts], "detail": "x"}
        expected = {"record": "case", **asdict(result)}
        expected["verdicts"] = [{**asdict(v), "worst_index": None if v.worst_index is None else list(v.worst_index),
                                 "layout_index": None if v.layout_index is None else list(v.layout_index)}
                                for v in result.verdicts]
        expected["replay"] = result.replay()
        record = result.to_dict()
        assert record == expected and list(record) == list(expected)
        assert record["jax"] is not result.jax and record["jax"]["verdicts"][0] is not result.jax["verdicts"][0]


@settings(max_examples=60)
@given(st.sampled_from(["n1c2h4w4f3k3p1", "n2c3h5w4f2k2x3s2p1,0,0,1b0", "n1c4h3w3f4k3p1g2"]),
       st.integers(0, 2**16), st.sampled_from(["normal", "integer", "magnitudes", "extremes", "nonfinite"]))
def test_a_contexts_integer_checks_are_the_plain_ones(descriptor, seed, fill):
    """BoundContext.integer_valued answers once per input what integer_valued answers every time."""
    from conv_oracle.bounds import integer_valued

    spec = ConvSpec.parse(descriptor)
    a = make_arrays(spec, seed, fill).as_float64()
    truth, scale = torch_oracle.reference(spec, a.x, a.w, a.b, a.gy)
    ctx = bound_context(spec, a, scale, truth)
    for _ in range(2):                                  # computed, then remembered
        for array in (ctx.x, ctx.w, ctx.b, ctx.gy, np.round(ctx.x), ctx.x + 0.5):
            if array is not None:
                assert ctx.integer_valued(array) == integer_valued(array)
