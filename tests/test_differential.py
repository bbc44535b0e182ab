"""The differential suite: every selected implementation through the engine, one test per
search: torch float64 truth with the JAX cross-check, capability honesty, and each
oracle-free relation. ``conv-oracle check`` and the report run the same searches.

Select implementations with --impl or CONV_ORACLE_IMPLS; the profile with
--hypothesis-profile or CONV_ORACLE_PROFILE.
"""
import pytest

from conv_oracle.engine import run_campaign, search_plan
from conv_oracle.pytest_plugin import assert_campaign_ok
from conv_oracle.relations import RELATIONS


def _skip_unless_planned(plugin, search):
    why = search_plan(plugin)[search]
    if why:
        pytest.skip(f"{plugin.name}: {search} not run: {why}")


def test_matches_oracles(plugin, jax_worker):
    """y, dx, dw, db within the declared bound of torch float64; torch agrees with JAX."""
    summary = run_campaign(plugin, profile=None, jax_worker=jax_worker, searches=["oracle"])
    assert_campaign_ok(summary)
    assert summary.cross_checked > 0
    assert all(r.jax is not None for r in summary.results), "a case record lacks its JAX verdict"


def test_refuses_what_it_does_not_declare(plugin):
    """Specs outside the declared capabilities raise NotSupported rather than answer."""
    _skip_unless_planned(plugin, "honesty")
    summary = run_campaign(plugin, profile=None, searches=["honesty"])
    assert_campaign_ok(summary, insufficient_ok=True)      # the honesty search may draw few cases
    assert summary.honesty_examples > 0 and all(r.status == "refused" for r in summary.results)


@pytest.mark.parametrize("relation", sorted(RELATIONS))
def test_oracle_free_relation(plugin, relation):
    """Adjoint identity and metamorphic relations, on the implementation's outputs alone."""
    _skip_unless_planned(plugin, f"relation:{relation}")
    summary = run_campaign(plugin, profile=None, searches=[f"relation:{relation}"])
    assert_campaign_ok(summary, insufficient_ok=True)
    assert summary.relation_examples.get(relation, 0) > 0
