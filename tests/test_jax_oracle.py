"""The JAX oracle's canonical rewrite (explicit padding, polyphase dilation, groups as a scan,
stride by subsampling, zero-padded buckets) gives torch's answer whichever bucket a case runs
in, and the worker compiles on every CPU but evaluates on its own."""
import os

import pytest

from conv_oracle.cases import make_arrays
from conv_oracle.oracles import jax_oracle, torch_oracle
from conv_oracle.runner import bound_context, oracle_disagreements
from conv_oracle.spec import ConvSpec

# one of each rewrite: padding (asymmetric), stride, dilation (polyphase), groups (scan), zero
# groups appended, bias absent, 1x1 and non-square kernels, an output width of 1
SPECS = ["n2c3h7w5f4k3x3s1x1p1,1,1,1d1x1g1b1", "n1c4h9w6f6k3x2s2x3p2,0,1,3d1x1g2b0",
         "n3c2h8w8f2k3x3s1x1p2,2,2,2d2x2g1b1", "n1c6h5w9f3k1x1s2x1p0,0,0,0d1x1g3b1",
         "n2c3h6w1f3k2x1s1x1p0,1,0,0d3x1g3b0", "n1c5h4w4f7k4x4s3x3p1,2,0,1d1x1g1b1"]


def _bigger(key: tuple) -> tuple:
    """A bucket that holds whatever ``key`` holds, with every size larger (more zero padding)."""
    gb, nb, ib, fb, kb, sb = key
    return gb + 1, nb + 1, ib + 2, fb + 1, kb + 2, sb + 3


def _answers(descriptor: str, seed: int) -> tuple:
    """In the JAX worker's process: the case's bucket, its answer there and in a bigger bucket."""
    spec = ConvSpec.parse(descriptor)
    a = make_arrays(spec, seed).as_float64()
    key = jax_oracle.buckets(spec)
    return key, jax_oracle.reference(spec, a.x, a.w, a.b, a.gy), \
        jax_oracle.reference(spec, a.x, a.w, a.b, a.gy, bucket=_bigger(key))


@pytest.mark.parametrize("descriptor", SPECS)
def test_every_bucket_gives_torchs_answer(jax_worker, descriptor):
    spec = ConvSpec.parse(descriptor)
    a = make_arrays(spec, 3).as_float64()
    truth, scale = torch_oracle.reference(spec, a.x, a.w, a.b, a.gy)
    ctx = bound_context(spec, a, scale, truth)
    key, own, bigger = jax_worker._pool.submit(_answers, descriptor, 3).result()
    for answer in (own, bigger):
        assert sorted(answer) == sorted(truth)
        for name, value in answer.items():
            assert value.shape == truth[name].shape and value.dtype == truth[name].dtype
            assert value.flags.c_contiguous and value.flags.writeable
        assert oracle_disagreements(truth, answer, ctx) == [], (descriptor, key)


def _thread_cpus() -> set:
    return {frozenset(os.sched_getaffinity(int(tid))) for tid in os.listdir("/proc/self/task")}


def _masks_while_and_after_compiling() -> tuple:
    """In the JAX worker's process: every thread's CPUs while compiling, then after compiling
    a bucket no case uses."""
    with jax_oracle.compile_context():
        compiling = _thread_cpus()
    jax_oracle._compiled((1, 3, 3, 5, 3, 11))
    return compiling, os.sched_getaffinity(0), _thread_cpus()


def test_the_worker_compiles_on_every_cpu_and_evaluates_on_its_own(jax_worker):
    from conv_oracle.oracles.worker import worker_cpu

    cpu = worker_cpu()
    if cpu is None:
        pytest.skip("one CPU allowed: the JAX worker shares it and is not pinned")
    compiling, own, after = jax_worker._pool.submit(_masks_while_and_after_compiling).result()
    (wide,) = compiling                    # the CPUs the worker started with: its own and more
    assert cpu in wide and len(wide) > 1
    assert own == {cpu} and after == {frozenset({cpu})}
