"""The JAX cross-check gathers cases into batches (one round trip between the processes for
many cases) without holding a verdict back: an armed record reaches its callback a linger
after its case was sent, with no call to ``finished``; a full batch goes at once; and
``finished(wait=True)`` sends what waits without lingering. Real JAX worker throughout."""
import queue
import time

from conv_oracle.cases import make_arrays
from conv_oracle.oracles import torch_oracle
from conv_oracle.oracles.worker import JaxWorker
from conv_oracle.runner import AGREE, CaseResult, CrossCheck, bound_context
from conv_oracle.spec import ConvSpec


def _case(descriptor, seed):
    spec = ConvSpec.parse(descriptor)
    a = make_arrays(spec, seed).as_float64()
    truth, scale = torch_oracle.reference(spec, a.x, a.w, a.b, a.gy)
    return CaseResult("test", spec.descriptor(), seed, "normal", "pass"), a, truth, bound_context(spec, a, scale, truth)


class _Counting:
    """The session's real JAX worker, with the size of every task it is sent recorded."""

    def __init__(self, worker: JaxWorker):
        self.worker, self.sizes = worker, []

    def submit_many(self, cases):
        self.sizes.append(len(cases))
        return self.worker.submit_many(cases)


def test_an_armed_record_gets_its_verdict_without_finished(jax_worker):
    """Three cases, each armed: every callback comes from the worker's answer while the caller
    waits on nothing but the callbacks, and they came as one batch (one task, not three)."""
    counting = _Counting(jax_worker)
    check = CrossCheck(counting)
    check.LINGER = 1.0                       # long enough that the three are one batch even on a busy machine
    handed = queue.SimpleQueue()
    cases = [_case("n2c3h5w5f4k3p1", seed) for seed in range(3)]
    for result, a, truth, ctx in cases:
        check.submit(result, a, truth, ctx)
        assert check.arm(result, handed.put)
    got = [handed.get(timeout=120) for _ in cases]        # the first call may compile its bucket
    assert {id(r) for r in got} == {id(r) for r, *_ in cases}
    assert all(r.jax["status"] == AGREE for r in got)
    assert counting.sizes == [3]
    assert check.finished(wait=True) == []


def test_a_full_batch_goes_at_once_and_finished_does_not_linger(jax_worker):
    """With a linger far longer than the test, 2 * MAX_BATCH + 3 cases still come back: the
    full batches go when full, the rest when ``finished`` waits for all, and no batch is larger
    than MAX_BATCH."""
    counting = _Counting(jax_worker)
    check = CrossCheck(counting)
    check.LINGER = 60.0
    cases = [_case(d, seed) for seed in range(CrossCheck.MAX_BATCH + 2)
             for d in ("n2c3h5w5f4k3p1", "n1c4h6w6f4k3s2p1g2b0")][:2 * CrossCheck.MAX_BATCH + 3]
    started = time.monotonic()
    for result, a, truth, ctx in cases:
        check.submit(result, a, truth, ctx)
    done = check.finished(wait=True)
    assert time.monotonic() - started < 30
    assert {id(r) for r in done} == {id(r) for r, *_ in cases}
    assert all(r.jax["status"] == AGREE for r in done)
    assert sum(counting.sizes) == len(cases) and max(counting.sizes) <= CrossCheck.MAX_BATCH
    assert len(counting.sizes) <= 4          # [32, 32, 3] unless a submit found a full queue twice
    # the sender starts again for later cases, and lingers no longer than asked
    check.LINGER = 0.05
    result, a, truth, ctx = cases[0]
    handed = queue.SimpleQueue()
    check.submit(result, a, truth, ctx)
    assert check.arm(result, handed.put)
    assert handed.get(timeout=60).jax["status"] == AGREE
