"""Hypothesis-driven fuzzing of one implementation: the engine behind ``conv-oracle check``
and the conformance report. The pytest suite uses the same strategies and runner.

Each example runs the implementation and the torch oracle in this process (one thread each:
small cases are fastest that way) and queues the case for the JAX cross-check in a worker
process pinned to another CPU. A failing example is shrunk by Hypothesis to a minimal one.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from hypothesis.reporting import current_reporter, with_reporter

from . import profiles
from .plugin import ConvPlugin
from .runner import CRASHED, HANG, MEMORY, CaseResult, CrossCheck, Disagreement, run_case, single_threaded
from .strategies import cases as case_strategy
from .strategies import fills, seeds, specs


class CaseFailure(AssertionError):
    def __init__(self, result: CaseResult):
        super().__init__(result.message())
        self.result = result


# Faults that cost a timeout or a worker restart per example: shrinking through them finds
# nothing worth the wait, so the first one ends the search of that plugin.
FATAL_KINDS = (HANG, CRASHED, MEMORY)


class PluginFault(BaseException):
    """The first fatal fault of a plugin. A BaseException, so Hypothesis neither shrinks nor
    replays it: it ends the search at once."""

    def __init__(self, result: CaseResult):
        super().__init__(result.message())
        self.result = result


@dataclass
class FuzzSummary:
    impl: str
    profile: str
    examples: int = 0                      # supported cases run
    honesty_examples: int = 0              # declared-unsupported cases offered
    results: list[CaseResult] = field(default_factory=list)
    failures: list[CaseResult] = field(default_factory=list)        # minimal, after shrinking
    disagreements: list[Disagreement] = field(default_factory=list)
    cross_checked: int = 0
    cross_skipped_nonfinite: int = 0        # NaN/Inf-input cases the JAX canonical form cannot judge
    stopped_by: str = ""                    # a fatal fault's kind, when it ended the search early
    seconds: float = 0.0
    seconds_before_drain: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def rate(self) -> float:
        return self.examples / self.seconds if self.seconds else 0.0


def _record(summary: FuzzSummary, result: CaseResult, on_result) -> None:
    summary.results.append(result)
    if on_result is not None:
        on_result(result)


def fuzz(plugin: ConvPlugin, *, profile: str = "dev", examples: int | None = None, seed: int | None = None,
         jax_worker=None, on_result=None, honesty: bool = True, executor=None,
         resume: dict | None = None) -> FuzzSummary:
    """Fuzz ``plugin`` against the oracles; returns every result and the shrunk failures.

    ``executor`` runs the plugin (default in process; see :mod:`conv_oracle.isolation`).
    ``resume`` maps (descriptor, seed, fill) to results recorded by an interrupted run: those
    cases are not run again, so a seeded or derandomized run resumes to the same summary."""
    profiles.load(profile)
    summary = FuzzSummary(plugin.name, profile)
    cross = CrossCheck(jax_worker) if jax_worker is not None else None

    def run_search(strategy, count_attr, share=1.0):
        wanted = examples or settings().max_examples
        @settings(max_examples=max(1, int(wanted * share)))
        @given(strategy)
        def check(case):
            spec, case_seed, fill = case
            recorded = resume.get((spec.descriptor(), case_seed, fill)) if resume else None
            if recorded is not None:
                result = recorded
            else:
                result = run_case(plugin, spec, case_seed, fill, cross_check=cross, executor=executor)
            setattr(summary, count_attr, getattr(summary, count_attr) + 1)
            _record(summary, result, on_result)
            if not result.ok:
                raise PluginFault(result) if result.kind in FATAL_KINDS else CaseFailure(result)

        if seed is not None:
            check = hypothesis_seed(seed)(check)
        try:
            with with_reporter(_without_seed_hint(current_reporter())):
                check()
        except PluginFault as exc:
            summary.failures.append(exc.result)
            summary.stopped_by = exc.result.kind
        except CaseFailure as exc:
            summary.failures.append(exc.result)
        except BaseExceptionGroup as group:       # several distinct bugs reported at once
            for exc in group.exceptions:
                if isinstance(exc, CaseFailure):
                    summary.failures.append(exc.result)
                else:
                    raise

    start = time.perf_counter()
    with single_threaded(), profiles.import_independent_draws():
        run_search(case_strategy(plugin.capabilities), "examples")
        if honesty and _has_limits(plugin) and not summary.stopped_by:
            unsupported = st.tuples(specs(plugin.capabilities, supported=False), seeds(), fills())
            try:
                run_search(unsupported, "honesty_examples", share=0.2)
            except Unsatisfiable:   # its limits lie beyond what the strategies draw: nothing to offer
                pass
    summary.seconds_before_drain = time.perf_counter() - start
    if cross is not None:
        summary.disagreements = cross.drain()
        summary.cross_checked = cross.checked
        summary.cross_skipped_nonfinite = cross.skipped_nonfinite
    summary.seconds = time.perf_counter() - start
    return summary


def _without_seed_hint(reporter):
    """Hypothesis prints "add @seed(...)" when a search ends on a BaseException; a PluginFault's
    record already has its replay command."""
    return lambda text: None if str(text).startswith("You can reproduce this failure by adding @seed(") \
        else reporter(text)


def _has_limits(plugin: ConvPlugin) -> bool:
    """Whether the unsupported-spec strategy can draw anything for this plugin."""
    caps = plugin.capabilities
    return bool("float16" not in caps.dtypes or caps.max_stride or caps.max_dilation or caps.kernel_max
                or caps.kernel_min > 1 or not caps.asymmetric_padding or not caps.groups or not caps.bias
                or caps.equal_strides or caps.square_kernel or caps.valid_only or caps.bias_required
                or bool(caps.dtype_limits))
