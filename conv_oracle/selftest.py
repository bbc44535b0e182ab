"""The harness's own mutation score: run every planted bug through the checks in order
(torch differential, capability honesty, oracle-free relations) and record which check
killed it and after how many examples. Correct summation-order variants must survive.
"""
from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given, settings

from . import mutants, profiles
from .fuzz import fuzz
from .relations import RELATIONS
from .runner import single_threaded
from .strategies import seeds, specs


@dataclass
class Outcome:
    mutant: str
    area: str
    killed: bool
    check: str = ""          # which check killed it
    examples: int = 0        # examples run until the first failure (or in total, if it survived)
    evidence: str = ""       # the failing descriptor and reason

    def to_dict(self) -> dict:
        return self.__dict__.copy()


def _relations_kill(plugin, profile: str) -> tuple[str, int, str] | None:
    tried = 0
    for name, relation in RELATIONS.items():
        found = []

        @settings(max_examples=max(5, settings().max_examples // 3), database=None)
        @given(spec=specs(plugin.capabilities), seed=seeds())
        def check(spec, seed):
            nonlocal tried
            tried += 1
            try:
                bad = [v.message() for v in relation(plugin, spec, seed) if not v.ok]
            except Exception as exc:  # a crash on a supported spec kills it too
                bad = [f"raised {type(exc).__name__}: {exc}"]
            if bad:
                found.append(f"{spec.descriptor()} seed {seed}: {bad[0]}")
                raise AssertionError(bad[0])

        try:
            check()
        except AssertionError:
            return f"oracle-free: {name}", tried, found[-1]
    return None


def run_one(mutation: mutants.Mutation, profile: str = "ci") -> Outcome:
    plugin = mutants.build(mutation.name)()
    summary = fuzz(plugin, profile=profile)        # torch truth; JAX adds nothing to a mutant's verdict
    failing = [i for i, r in enumerate(summary.results) if not r.ok]
    if failing:
        first = summary.results[failing[0]]
        shrunk = summary.failures[0] if summary.failures else first
        return Outcome(mutation.name, mutation.area, True,
                       f"torch oracle: {first.kind} ({first.failed_output()})"
                       if first.status == "fail" and first.verdicts else f"harness: {first.kind}",
                       failing[0] + 1, f"{shrunk.descriptor} seed {shrunk.seed} fill {shrunk.fill}")
    profiles.load(profile)
    with single_threaded():
        killed = _relations_kill(plugin, profile)
    if killed:
        check, tried, evidence = killed
        return Outcome(mutation.name, mutation.area, True, check, summary.examples + tried, evidence)
    return Outcome(mutation.name, mutation.area, False, "", summary.examples)


def run_all(profile: str = "ci", names: list[str] | None = None, on_outcome=None) -> list[Outcome]:
    chosen = [mutants.BY_NAME[n] for n in names] if names else mutants.MUTATIONS
    outcomes = []
    for m in chosen:
        outcome = run_one(m, profile)
        outcomes.append(outcome)
        if on_outcome:
            on_outcome(outcome)
    return outcomes
