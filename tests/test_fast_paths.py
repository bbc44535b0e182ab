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
