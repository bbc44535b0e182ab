"""The harness's own mutation score: run every planted bug through the engine (torch
differential, capability honesty, oracle-free relations, in that order) and record which
check killed it and after how many examples. Correct summation-order variants must survive.
"""
from __future__ import annotations

from dataclasses import dataclass

from . import mutants
from .engine import run_campaign
from .runner import HONESTY, ORACLE


@dataclass
class Outcome:
    mutant: str
    area: str
    killed: bool
    check: str = ""          # which check killed it
    examples: int = 0        # distinct cases run until the first failure (or in total, if it survived)
    evidence: str = ""       # the first failing case (not shrunk)

    def to_dict(self) -> dict:
        return self.__dict__.copy()


def killed_by(result) -> str:
    """Name of the check a failing record comes from."""
    if result.search == ORACLE:
        return (f"torch oracle: {result.kind} ({result.failed_output()})" if result.verdicts
                else f"harness: {result.kind}")
    if result.search == HONESTY:
        return f"honesty: {result.kind}"
    return f"oracle-free: {result.relation}" if result.kind.startswith("relation") else f"oracle-free: {result.kind}"


def first_caught(plugin, profile: str = "ci", executor=None):
    """The engine's campaign over ``plugin`` (every search, stopping at the first that fails):
    (summary, its first failing record or None). ``executor``: as :func:`run_campaign`'s."""
    # JAX adds nothing to a mutant's verdict; shrinking nothing to whether it is caught
    summary = run_campaign(plugin, profile=profile, stop_on_failure=True, shrink=False, executor=executor)
    return summary, next((r for r in summary.results if not r.ok), None)


def outcome_of(summary, first, name: str, area: str) -> Outcome:
    if first is None:
        return Outcome(name, area, False, "", len(summary.results))
    shrunk = next((f.shrunk for f in summary.findings if f.signature == first.signature), first)
    evidence = f"{shrunk.descriptor} seed {shrunk.seed} fill {shrunk.fill}"
    return Outcome(name, area, True, killed_by(first), first.index + 1, evidence)


def judge(plugin, name: str, area: str, profile: str = "ci") -> Outcome:
    """Run the engine on ``plugin`` (every search, stopping at the first that fails)."""
    return outcome_of(*first_caught(plugin, profile), name, area)


def run_one(mutation: mutants.Mutation, profile: str = "ci") -> Outcome:
    return judge(mutants.build(mutation.name)(), mutation.name, mutation.area, profile)


def run_all(profile: str = "ci", names: list[str] | None = None, on_outcome=None) -> list[Outcome]:
    chosen = [mutants.BY_NAME[n] for n in names] if names else mutants.MUTATIONS
    outcomes = []
    for m in chosen:
        outcome = run_one(m, profile)
        outcomes.append(outcome)
        if on_outcome:
            on_outcome(outcome)
    return outcomes
