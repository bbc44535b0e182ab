"""The differential suite: every selected implementation against torch (truth, float64)
and JAX (cross-check), plus capability honesty and oracle-free relations.

Select implementations with --impl or CONV_ORACLE_IMPLS; the profile with
--hypothesis-profile or CONV_ORACLE_PROFILE.
"""
import pytest
from hypothesis import given, settings

from conv_oracle.oracles.worker import pin_away_from_worker
from conv_oracle.pytest_plugin import assert_case_ok
from conv_oracle.relations import RELATIONS
from conv_oracle.runner import CrossCheck, run_case, single_threaded
from conv_oracle.strategies import cases, fills, seeds, specs


def test_matches_oracles(plugin, jax_worker):
    """y, dx, dw, db within the declared bound of torch float64; torch agrees with JAX."""
    cross = CrossCheck(jax_worker)

    @given(case=cases(plugin.capabilities))
    def check(case):
        spec, seed, fill = case
        assert_case_ok(run_case(plugin, spec, seed, fill, cross_check=cross))

    previous = pin_away_from_worker()
    try:
        with single_threaded():
            check()
    finally:
        import os
        os.sched_setaffinity(0, previous)
        disagreements = cross.drain()
    assert cross.checked > 0
    assert not disagreements, "\n".join(d.message() for d in disagreements)


def test_refuses_what_it_does_not_declare(plugin):
    """Specs outside the declared capabilities raise NotSupported rather than answer."""
    from conv_oracle.fuzz import _has_limits

    if not _has_limits(plugin):
        pytest.skip(f"{plugin.name} declares every capability the strategies can draw (float16 included)")

    @settings(max_examples=max(10, settings().max_examples // 4))
    @given(spec=specs(plugin.capabilities, supported=False), seed=seeds(), fill=fills())
    def check(spec, seed, fill):
        result = run_case(plugin, spec, seed, fill)
        assert result.status == "refused", result.message()

    check()


@pytest.mark.parametrize("relation", sorted(RELATIONS))
def test_oracle_free_relation(plugin, relation):
    """Adjoint identity and metamorphic relations, on the implementation's outputs alone."""
    caps = plugin.capabilities
    if relation in ("adjoint", "homogeneity") and not caps.backward:
        pytest.skip(f"{plugin.name} declares no backward; {relation} needs dx/dw")
    if relation == "stride" and caps.max_stride == 1:
        pytest.skip(f"{plugin.name} declares stride 1 only")
    if relation == "groups" and not caps.groups:
        pytest.skip(f"{plugin.name} declares no groups")
    if relation == "dilation" and caps.max_dilation == 1:
        pytest.skip(f"{plugin.name} declares no dilation")
    check_relation = RELATIONS[relation]

    def applies(spec):
        if relation == "dilation":   # the zero-inserted kernel must itself be supported
            dense = spec.replace(kh=spec.dilation[0] * (spec.kh - 1) + 1,
                                 kw=spec.dilation[1] * (spec.kw - 1) + 1, dilation=(1, 1))
            return not caps.unsupported_reasons(dense)
        return True

    @settings(max_examples=max(5, settings().max_examples // 3))
    @given(spec=specs(caps).filter(applies), seed=seeds())
    def check(spec, seed):
        with single_threaded():
            verdicts = check_relation(plugin, spec, seed)
        bad = [v.message() for v in verdicts if not v.ok]
        assert not bad, f"{plugin.name} {spec.descriptor()} seed {seed}:\n" + "\n".join(bad)

    check()
