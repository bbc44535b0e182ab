"""The case arrays' fast helpers are numpy's own draws, exactly: the same values and the
generator left in the same state, so a (spec, seed, fill) still rebuilds the same arrays."""
import threading

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from conv_oracle import cases
from conv_oracle.spec import ConvSpec

shapes = st.lists(st.integers(1, 5), min_size=1, max_size=4).map(tuple)


@settings(max_examples=200, deadline=None)
@given(seed=st.integers(0, 2**64 - 1), shape=shapes, draws=st.integers(0, 3))
def test_the_cached_seeding_is_default_rngs(seed, shape, draws):
    ours, numpys = cases._rng(seed), np.random.default_rng(seed)
    for _ in range(draws):        # a generator used before is reset all the same
        ours.standard_normal(shape)
        ours = cases._rng(seed)
    assert np.array_equal(ours.standard_normal(shape), numpys.standard_normal(shape))
    assert ours.bit_generator.state == numpys.bit_generator.state


@settings(max_examples=200, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), shape=shapes, values=st.sampled_from([
    np.array([-1.0, 1.0]), np.array([np.nan, np.inf, -np.inf], dtype=np.float32)]))
def test_pick_is_rng_choice(seed, shape, values):
    a, b = np.random.default_rng(seed), np.random.default_rng(seed)
    got, want = cases._pick(a, values, shape), b.choice(values, size=shape)
    assert got.dtype == want.dtype and np.array_equal(got, want, equal_nan=True)
    assert a.bit_generator.state == b.bit_generator.state


@given(seed=st.integers(0, 2**32 - 1), shape=shapes)
def test_clip4_is_np_clip(seed, shape):
    values = np.random.default_rng(seed).standard_normal(shape) * 8
    assert np.array_equal(cases._clip4(values), np.clip(values, -4, 4))


def test_each_thread_draws_its_own_case():
    """Threads share no generator: concurrent make_arrays give each seed its own arrays."""
    spec = ConvSpec.parse("n2c3h6w6f4k3p1 f32")
    want = {seed: cases.make_arrays(spec, seed, "extremes").x for seed in range(8)}
    wrong = []

    def draw(seed):
        for _ in range(50):
            if not np.array_equal(cases.make_arrays(spec, seed, "extremes").x, want[seed]):
                wrong.append(seed)
    threads = [threading.Thread(target=draw, args=(seed,)) for seed in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not wrong
