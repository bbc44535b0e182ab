"""The engine: the one driver of a campaign over one plugin.

:func:`run_campaign` draws cases with Hypothesis and judges each with
:func:`conv_oracle.runner.run_case` (torch float64 truth, the plugin's checked error bound,
the JAX cross-check as a field of the record), then offers declared-unsupported cases (the
honesty search), then checks the oracle-free relations (adjoint identity, metamorphic
relations). pytest, ``conv-oracle check``, ``report``, ``selftest`` and a campaign shard all
call it, so a case gets the same verdict wherever it runs.

Every distinct case run is one :class:`~conv_oracle.runner.CaseResult` record; shrink calls
that replay a case already run reuse its record. Every distinct failure (kind and failed
outputs) is shrunk by Hypothesis on its own and reported as a :class:`Finding` holding the
first failing case and the shrunk one. The example database is keyed per plugin and search.
A campaign that drew far fewer cases than it asked for is ``insufficient``, never a pass.
"""
from __future__ import annotations

import os
import threading
import time
import unittest
from dataclasses import dataclass, field

from hypothesis import Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from hypothesis.reporting import current_reporter, with_reporter

from . import profiles
from .plugin import ConvPlugin
from .relations import RELATIONS, Calls, RelationError, applies, spec_applies
from .runner import (CRASHED, DISAGREE, FAIL, HANG, HONESTY, MEMORY, ORACLE, PASS, RELATION, SKIPPED_NONFINITE,
                     CaseResult, CrossCheck, Disagreement, plugin_name, run_case, single_threaded)
from .strategies import cases as case_strategy
from .strategies import family_examples, family_shares, fills, seeds, specs

# Verdicts of a campaign. Only PASSED is good.
PASSED, FAILED, INSUFFICIENT = "pass", "fail", "insufficient"
# A campaign that drew fewer than this share of the examples it asked for is insufficient.
MIN_SHARE = 0.5
# Shares of the example count (or of the time budget) per search.
HONESTY_SHARE, RELATION_SHARE = 0.2, 1 / 3
MIN_RELATION_EXAMPLES = 5


class CaseFailure(AssertionError):
    def __init__(self, result: CaseResult):
        super().__init__(result.message())
        self.result = result


# Faults that cost a timeout or a worker restart per example: shrinking through them finds
# nothing worth the wait, so the first one ends the campaign of that plugin.
FATAL_KINDS = (HANG, CRASHED, MEMORY)


class PluginFault(BaseException):
    """The first fatal fault of a plugin. A BaseException, so Hypothesis neither shrinks nor
    replays it: it ends the search at once."""

    def __init__(self, result: CaseResult):
        super().__init__(result.message())
        self.result = result


def _without_seed_hint(reporter):
    """Hypothesis prints "add @seed(...)" when a search ends on a BaseException; a PluginFault's
    record already has its replay command."""
    return lambda text: None if str(text).startswith("You can reproduce this failure by adding @seed(") \
        else reporter(text)


class TimeUp(unittest.SkipTest):
    """Ends a timed search: Hypothesis re-raises a skip at once, with no shrinking."""


_FAILURE_TYPES: dict[str, type] = {}


def _failure_type(signature: str) -> type:
    """One exception class per failure signature: Hypothesis tells bugs apart by exception type
    and location, so each distinct failure is shrunk and reported on its own."""
    if signature not in _FAILURE_TYPES:
        _FAILURE_TYPES[signature] = type(f"CaseFailure[{signature}]", (CaseFailure,), {})
    return _FAILURE_TYPES[signature]


@dataclass
class Finding:
    """One distinct failure of a search: the first case that showed it and the shrunk one."""

    signature: str
    search: str
    first: CaseResult
    shrunk: CaseResult

    def to_record(self) -> dict:
        return {"record": "failure", "impl": self.shrunk.impl, "signature": self.signature, "search": self.search,
                "first": list(self.first.key), "shrunk": list(self.shrunk.key)}


@dataclass
class CampaignSummary:
    impl: str
    profile: str
    examples_asked: int = 0                # declared-supported cases asked for (0 with a time budget)
    minutes: float | None = None           # the time budget, when the campaign had one
    seed: int | None = None
    searches: list[str] = field(default_factory=list)        # searches run
    skipped: dict[str, str] = field(default_factory=dict)    # search -> why it was not run
    results: list[CaseResult] = field(default_factory=list)  # one per distinct case, in run order
    findings: list[Finding] = field(default_factory=list)
    calls: int = 0                         # test-function calls, shrinking included
    shrink_calls: int = 0                  # calls after a search's first failure (shrinking, replays)
    reused: int = 0                        # records restored by --resume instead of run
    families: dict[str, int] = field(default_factory=dict)   # declared-supported cases per spec family
    stopped_by: str = ""                   # a fatal fault's kind, when it ended the campaign early
    seconds: float = 0.0
    seconds_before_drain: float = 0.0

    # ---- counts, all derived from the records ----
    def _of(self, search: str) -> list[CaseResult]:
        return [r for r in self.results if r.search == search]

    @property
    def examples(self) -> int:
        """Distinct declared-supported cases run (not shrink calls)."""
        return len(self._of(ORACLE))

    @property
    def honesty_examples(self) -> int:
        return len(self._of(HONESTY))

    @property
    def relation_examples(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self._of(RELATION):
            out[r.relation] = out.get(r.relation, 0) + 1
        return out

    @property
    def failures(self) -> list[CaseResult]:
        return [f.shrunk for f in self.findings]

    @property
    def disagreements(self) -> list[Disagreement]:
        return [Disagreement.of(r) for r in self.results if r.jax and r.jax.get("status") == DISAGREE]

    @property
    def cross_checked(self) -> int:
        return sum(1 for r in self.results if r.jax and r.jax.get("status") in ("agree", DISAGREE))

    @property
    def cross_skipped_nonfinite(self) -> int:
        return sum(1 for r in self.results if r.jax and r.jax.get("status") == SKIPPED_NONFINITE)

    @property
    def insufficient(self) -> str:
        """Why the campaign cannot judge the plugin ("" when it drew enough cases)."""
        if self.examples_asked and self.examples < MIN_SHARE * self.examples_asked:
            return (f"only {self.examples} of {self.examples_asked} declared-supported examples could be drawn "
                    "(the declared capabilities leave the strategies too few cases)")
        if not self.examples_asked and ORACLE in self.searches and self.examples < MIN_RELATION_EXAMPLES:
            return f"only {self.examples} declared-supported examples in the time budget"
        return ""

    @property
    def verdict(self) -> str:
        if self.findings:
            return FAILED
        return INSUFFICIENT if self.insufficient else PASSED

    @property
    def ok(self) -> bool:
        return self.verdict == PASSED

    @property
    def rate(self) -> float:
        return self.examples / self.seconds if self.seconds else 0.0

    def line(self) -> str:
        """One line: the verdict and every count behind it."""
        relations = sum(self.relation_examples.values())
        verdict = {PASSED: "pass", FAILED: f"FAIL ({len(self.findings)} distinct failures)",
                   INSUFFICIENT: f"INSUFFICIENT: {self.insufficient}"}[self.verdict]
        return (f"{self.impl}: {verdict}; {self.examples} examples (distinct cases; {self.shrink_calls} shrink calls "
                f"besides), {len(self.findings)} failing (distinct, shrunk), "
                f"{self.honesty_examples} declared-unsupported offered, {relations} relation cases, "
                f"{self.cross_checked} cross-checked against JAX ({self.cross_skipped_nonfinite} NaN/Inf-input cases "
                f"not: see README), {len(self.disagreements)} oracle disagreements"
                + (f"; time budget {self.minutes:g} min" if self.minutes else ""))

    def to_record(self) -> dict:
        """The run record of a JSONL stream: what the case records do not say."""
        return {"record": "run", "impl": self.impl, "profile": self.profile, "examples_asked": self.examples_asked,
                "minutes": self.minutes, "seed": self.seed, "searches": self.searches, "skipped": self.skipped,
                "calls": self.calls, "shrink_calls": self.shrink_calls, "reused": self.reused, "families": self.families,
                "stopped_by": self.stopped_by,
                "seconds": round(self.seconds, 3), "seconds_before_drain": round(self.seconds_before_drain, 3),
                "verdict": self.verdict}


def summary_from_records(records: list[dict]) -> dict[str, CampaignSummary]:
    """Campaign summaries rebuilt from a JSONL stream's records (no plugin, no oracle), by plugin."""
    out: dict[str, CampaignSummary] = {}
    cases: dict[str, dict[tuple, CaseResult]] = {}
    for rec in records:
        kind = rec.get("record", "case")
        impl = rec.get("impl")
        if kind == "case":
            result = CaseResult.from_dict(rec)
            cases.setdefault(impl, {})[result.key] = result
            out.setdefault(impl, CampaignSummary(impl, ""))
        elif kind == "run":       # several run records of a plugin (a campaign's shards) add up
            s = out.setdefault(impl, CampaignSummary(impl, ""))
            for k in ("profile", "minutes", "seed", "stopped_by"):
                if rec.get(k):
                    setattr(s, k, rec[k])
            for k in ("examples_asked", "calls", "shrink_calls", "reused", "seconds", "seconds_before_drain"):
                setattr(s, k, getattr(s, k) + (rec.get(k) or 0))
            s.searches += [n for n in rec.get("searches", []) if n not in s.searches]
            s.skipped.update(rec.get("skipped", {}))
            for family, count in (rec.get("families") or {}).items():
                s.families[family] = s.families.get(family, 0) + count
    for impl, by_key in cases.items():
        out[impl].results = sorted(by_key.values(), key=lambda r: r.index)
    for rec in records:
        if rec.get("record") == "failure":
            by_key = cases.get(rec["impl"], {})
            first, shrunk = by_key.get(tuple(rec["first"])), by_key.get(tuple(rec["shrunk"]))
            if first is not None and shrunk is not None:
                out[rec["impl"]].findings.append(Finding(rec["signature"], rec["search"], first, shrunk))
    return out


def relation_case(plugin: ConvPlugin, name: str, spec, seed: int, executor=None, calls=None) -> CaseResult:
    """One oracle-free relation on one case, as a record; a violation is a failure of kind
    ``relation: NAME``, a bad error model one of kind ``model``."""
    from .bounds import ModelBoundError

    result = CaseResult(plugin_name(plugin), spec.descriptor(), seed, "normal", PASS, search=RELATION, relation=name)
    try:
        result.verdicts = RELATIONS[name](calls or Calls(plugin, executor), spec, seed)
    except RelationError as exc:   # the plugin failed on a call: a fault, not a violation
        kind = exc.kind if exc.kind in FATAL_KINDS else f"relation: {name}"
        result.status, result.kind, result.detail = FAIL, kind, f"{exc.kind} {exc.detail}"
        return result
    except ModelBoundError as exc:
        result.status, result.kind, result.detail = FAIL, "model", f"{result.impl}: {exc}"
        return result
    except (ValueError, TypeError, IndexError) as exc:   # outputs of the wrong shape or type broke the relation
        result.status, result.kind = FAIL, f"relation: {name}"
        result.detail = f"the plugin's outputs do not fit the relation: {type(exc).__name__}: {exc}"
        return result
    if any(not v.ok for v in result.verdicts):
        result.status, result.kind = FAIL, f"relation: {name}"
    return result


def replay(plugin: ConvPlugin, record: CaseResult, executor=None) -> CaseResult:
    """The case of ``record`` (its search, relation, descriptor, seed and fill) run again on
    ``plugin``: a record of the same search."""
    from .spec import ConvSpec

    spec = ConvSpec.parse(record.descriptor)
    if record.search == RELATION:
        return relation_case(plugin, record.relation, spec, record.seed, executor)
    result = run_case(plugin, spec, record.seed, record.fill, executor=executor)
    result.search = record.search
    return result


def has_limits(plugin: ConvPlugin) -> bool:
    """Whether the unsupported-spec strategy can draw anything for this plugin."""
    caps = plugin.capabilities
    return bool(any(d not in caps.dtypes for d in ("float16", "bfloat16")) or caps.max_stride or caps.max_dilation
                or caps.kernel_max or caps.kernel_min > 1 or not caps.asymmetric_padding or not caps.groups or not caps.bias
                or caps.equal_strides or caps.square_kernel or caps.valid_only or caps.bias_required
                or bool(caps.dtype_limits))


def search_plan(plugin: ConvPlugin) -> dict[str, str]:
    """Every search of a campaign and why it cannot run for this plugin ("" when it can)."""
    caps = plugin.capabilities
    plan = {ORACLE: "", HONESTY: "" if has_limits(plugin) else
            "declares every capability the strategies can draw (float16 included)"}
    for name in RELATIONS:
        plan[f"{RELATION}:{name}"] = applies(name, caps)
    return plan


class _Campaign:
    """The state of one campaign: records by key, findings, the JAX cross-check."""

    def __init__(self, plugin, summary: CampaignSummary, *, cross, executor, resume, on_result, database,
                 seed, deadline_of, database_when_seeded=False, shrink=True):
        self.plugin, self.summary, self.cross, self.executor = plugin, summary, cross, executor
        self.resume = resume or {}
        self.on_result, self.database, self.seed = on_result, database, seed
        self.database_when_seeded = database_when_seeded    # an explicitly given database: seeded runs use it too
        self.deadline_of = deadline_of
        self.phases = None if shrink else tuple(p for p in Phase if p != Phase.shrink)
        self.seen: dict[tuple, CaseResult] = {}
        self.emitting = threading.Lock()
        self.emit_error: BaseException | None = None
        self.calls = Calls(plugin, executor)

    def _record(self, result: CaseResult, restored: bool) -> None:
        if self.emit_error is not None:     # a record handed over from the JAX thread could not be written
            raise self.emit_error
        result.index = len(self.summary.results)
        self.seen[result.key] = result
        self.summary.results.append(result)
        if restored:
            self.summary.reused += 1
        elif not (self.cross is not None and self.cross.arm(result, self._emit_from_jax)):
            self._emit(result)        # no JAX verdict to wait for (armed ones come from the worker's thread)

    def _emit(self, result: CaseResult) -> None:
        if self.on_result is not None:
            with self.emitting:       # JAX answers arrive on another thread
                self.on_result(result)

    def _emit_from_jax(self, result: CaseResult) -> None:
        try:
            self._emit(result)
        except BaseException as exc:        # raised again on the main thread (the stream's error)
            self.emit_error = exc

    def flush(self, wait: bool) -> None:
        """Emit the records whose JAX verdict came in (wait for all of them with ``wait``)."""
        if self.cross is not None:
            for result in self.cross.finished(wait=wait):
                self._emit(result)
            if self.emit_error is not None:
                raise self.emit_error

    # ---- judging one drawn case ----
    def oracle_case(self, case) -> CaseResult:
        spec, case_seed, fill = case
        return run_case(self.plugin, spec, case_seed, fill, cross_check=self.cross, executor=self.executor)

    def honesty_case(self, case) -> CaseResult:
        spec, case_seed, fill = case
        result = run_case(self.plugin, spec, case_seed, fill, executor=self.executor)
        result.search = HONESTY
        return result

    def relation_case(self, name: str, case) -> CaseResult:
        spec, case_seed = case
        return relation_case(self.plugin, name, spec, case_seed, self.executor, self.calls)

    # ---- one Hypothesis search ----
    def search(self, name: str, strategy, wanted: int, judge, key_of, family: str = "") -> None:
        """Run one search of ``wanted`` examples (or until its deadline), recording every
        distinct case and one :class:`Finding` per distinct failure. ``family``: a spec
        family's part of the search (its share of the time budget, its own database key)."""
        summary = self.summary
        deadline = self.deadline_of(name, family_shares()[family] if family else 1.0)
        firsts: dict[str, CaseResult] = {}

        def check(case):
            if deadline is not None and time.monotonic() > deadline and not firsts:
                raise TimeUp()                # the time budget is spent: Hypothesis stops at once
            summary.calls += 1
            if firsts:
                summary.shrink_calls += 1
            key = key_of(case)
            result = self.seen.get(key)
            if result is None:
                restored = self.resume.get(key)
                result = restored if restored is not None else judge(case)
                self._record(result, restored is not None)
            if not result.ok:
                if result.kind in FATAL_KINDS:
                    raise PluginFault(result)
                firsts.setdefault(result.signature, result)
                raise _failure_type(result.signature)(result)

        batches = 0
        while True:
            seed = None if self.seed is None else self.seed + batches
            options = {"phases": self.phases} if self.phases else {}
            limits = settings(max_examples=max(1, wanted), database=self.database,
                              derandomize=settings().derandomize and deadline is None and self.database is None,
                              **options)
            run_one = given(strategy)(check)
            # one example database key per plugin and search: plugins never replay each other's examples
            run_one.hypothesis.inner_test._hypothesis_internal_add_digest = \
                f"conv-oracle/{summary.impl}/{name}{'/' + family if family else ''}".encode()
            if seed is None and deadline is None:
                run_one = limits(run_one)
            elif self.database_when_seeded:    # @seed switches the database off; settings over it keep it
                run_one = limits(hypothesis_seed(seed if seed is not None else batches)(run_one))
            else:
                run_one = hypothesis_seed(seed if seed is not None else batches)(limits(run_one))
            before = len(summary.results)
            try:
                with with_reporter(_without_seed_hint(current_reporter())):
                    run_one()
            except PluginFault as exc:
                self._found(name, exc.result, {})
                summary.stopped_by = exc.result.kind
                return
            except CaseFailure as exc:
                self._found(name, exc.result, firsts)
            except BaseExceptionGroup as group:      # several distinct bugs, each shrunk on its own
                for exc in group.exceptions:
                    if not isinstance(exc, CaseFailure):
                        raise
                    self._found(name, exc.result, firsts)
            except Unsatisfiable:   # its limits lie beyond what the strategies draw: nothing to offer
                pass
            except TimeUp:
                return
            batches += 1
            if deadline is None or time.monotonic() > deadline or len(summary.results) == before:
                return
            firsts = {}

    def _found(self, search: str, shrunk: CaseResult, firsts: dict[str, CaseResult]) -> None:
        signature = shrunk.signature
        if any(f.signature == signature and f.search == search for f in self.summary.findings):
            return        # the same bug found again in a later batch of a timed run
        self.summary.findings.append(Finding(signature, search, firsts.get(signature, shrunk), shrunk))


def run_campaign(plugin: ConvPlugin, *, profile: str | None = "dev", examples: int | None = None,
                 minutes: float | None = None, seed: int | None = None, jax_worker=None, on_result=None,
                 on_record=None, searches=None, executor=None, resume: dict | None = None,
                 database="profile", stop_on_failure: bool = False, dtypes=None,
                 families=None, shrink: bool = True) -> CampaignSummary:
    """Run one campaign over ``plugin`` and return its summary with every case record.

    ``profile``: Hypothesis profile to load (None: keep the loaded one). ``examples``: the
    declared-supported cases to draw (default: the profile's); honesty and every relation get a
    share of it. ``minutes``: fuzz for a fixed time instead (the count is reported). ``seed``:
    Hypothesis seed. ``jax_worker``: cross-check every case against JAX (this process keeps off
    its CPU meanwhile). ``on_result(record)``: each new case record once complete (JAX verdict
    in); ``on_record(dict)``: the failure and run records at the end. ``searches``: names from
    :func:`search_plan` to run (default all that apply). ``executor``: runs the plugin (default in
    process; see :mod:`conv_oracle.isolation`). ``resume``: {record key: CaseResult} of an
    interrupted run, reused instead of run. ``database``: "profile" (the profile's, keyed per
    plugin and search), None, or an ExampleDatabase (used by seeded runs too: a campaign
    shard's shared database). ``dtypes``: draw declared-supported cases of these dtypes only;
    ``families``: of these spec families only (the examples split evenly between them).
    ``stop_on_failure``: skip the later searches once one has failed (selftest). ``shrink``:
    False reports failures as first found (selftest asks only whether a bug is caught)."""
    if profile is not None:
        profiles.load(profile)
    current = settings()
    wanted = examples or current.max_examples
    summary = CampaignSummary(plugin_name(plugin), profile or str(settings._current_profile),
                              examples_asked=0 if minutes else wanted, minutes=minutes, seed=seed)
    plan = search_plan(plugin)
    chosen = list(plan) if searches is None else list(searches)
    for name in chosen:
        if name not in plan:
            raise ValueError(f"unknown search {name!r}; known: {', '.join(plan)}")
    summary.skipped = {n: why for n, why in plan.items() if n in chosen and why}
    runnable = [n for n in chosen if not plan[n]]
    relations = [n for n in runnable if n.startswith(RELATION)]
    shares = {n: (0.6 if n == ORACLE else 0.1 if n == HONESTY else 0.3 / max(len(relations), 1)) for n in runnable}

    def deadline_of(name, fraction=1.0):   # each search gets its share of the budget from when it starts
        return time.monotonic() + shares[name] * fraction * minutes * 60 if minutes else None

    campaign = _Campaign(plugin, summary, cross=CrossCheck(jax_worker) if jax_worker is not None else None,
                         executor=executor, resume=resume, on_result=on_result,
                         database=current.database if database == "profile" else database, seed=seed,
                         deadline_of=deadline_of, database_when_seeded=database not in ("profile", None),
                         shrink=shrink)
    previous_affinity = None
    if jax_worker is not None:
        from .oracles.worker import pin_away_from_worker

        jax_worker.settings()                     # started before this process leaves its CPU
        previous_affinity = pin_away_from_worker()
    caps = plugin.capabilities
    t0 = time.perf_counter()
    try:
        with single_threaded(), profiles.import_independent_draws():
            for name in runnable:
                if stop_on_failure and summary.findings:
                    summary.skipped[name] = "an earlier search failed (stop on failure)"
                    continue
                if summary.stopped_by:
                    summary.skipped[name] = f"stopped at the plugin's first {summary.stopped_by} fault"
                    continue
                summary.searches.append(name)
                if name == ORACLE:      # one search per spec family: the profile's stated shares hold exactly
                    split = family_examples(wanted) if not families else {
                        f: wanted // len(families) + (i < wanted % len(families)) for i, f in enumerate(families)}
                    for family, count in split.items():
                        if (stop_on_failure and summary.findings) or summary.stopped_by:
                            break         # a fatal fault ends the plugin's campaign, not one family's search
                        before = summary.examples
                        campaign.search(name, case_strategy(caps, dtypes=dtypes, family=family), count,
                                        campaign.oracle_case, lambda c: (ORACLE, "", c[0].descriptor(), c[1], c[2]),
                                        family)
                        summary.families[family] = summary.examples - before
                elif name == HONESTY:
                    campaign.search(name, st.tuples(specs(caps, supported=False), seeds(), fills()),
                                    max(1, int(wanted * HONESTY_SHARE)), campaign.honesty_case,
                                    lambda c: (HONESTY, "", c[0].descriptor(), c[1], c[2]))
                else:
                    relation = name.split(":", 1)[1]
                    drawn = specs(caps, dtypes=dtypes).filter(lambda s, r=relation: spec_applies(r, caps, s))
                    strategy = st.tuples(drawn, seeds())
                    campaign.search(name, strategy, max(MIN_RELATION_EXAMPLES, int(wanted * RELATION_SHARE)),
                                    lambda c, r=relation: campaign.relation_case(r, c),
                                    lambda c, r=relation: (RELATION, r, c[0].descriptor(), c[1], "normal"))
        summary.seconds_before_drain = time.perf_counter() - t0
        campaign.flush(wait=True)
    finally:
        if previous_affinity is not None:
            os.sched_setaffinity(0, previous_affinity)
    summary.seconds = time.perf_counter() - t0
    if on_record is not None:
        for finding in summary.findings:
            on_record(finding.to_record())
        on_record(summary.to_record())
    return summary
