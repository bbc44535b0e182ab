"""Where one fuzzing example's time goes: strategy draw and Hypothesis engine, array
generation, the plugin, torch truth and magnitudes, error bounds, comparison, the JAX queue
(in process), the wait for the JAX worker and its compute there; relation checks beside.

    flock -x /tmp/conv-oracle-cpu.lock env PYTHONPATH=TREE .venv/bin/python benchmarks/fuzz_breakdown.py \\
        --impl loop --profile dev --examples 300 [--max-elements 3000]

Run from a tree (``PYTHONPATH``) whose runner has ``make_arrays``, ``execute``,
``bound_context``, ``total_bounds``, ``compare_output`` and ``CrossCheck``, and whose engine
(or, before it, fuzz module) calls ``run_case``: the phases are timed by wrapping those. One warm-up pass with the same seed first (JAX compiles,
Python warms up), then the timed pass; honesty search off, so every example is supported.
"""
from __future__ import annotations

import argparse
import threading
import time
from collections import defaultdict

TOTALS: dict[str, float] = defaultdict(float)
IN_CASE = [False]            # inside run_case: the drain's comparisons of JAX answers are not counted


def timed(name, fn, case_only=False):
    def wrapper(*args, **kwargs):
        # case_only: the main thread inside run_case (JAX answers are judged on the pool's thread)
        if case_only and not (IN_CASE[0] and threading.current_thread() is threading.main_thread()):
            return fn(*args, **kwargs)
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            TOTALS[name] += time.perf_counter() - start
    return wrapper


def jax_compute(descriptor, x, w, b, gy) -> float:
    """Runs in the JAX worker: seconds of one canonical-form evaluation (compiled already)."""
    from conv_oracle.oracles import jax_oracle
    from conv_oracle.spec import ConvSpec

    start = time.perf_counter()
    jax_oracle.reference(ConvSpec.parse(descriptor), x, w, b, gy)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--impl", default="loop")
    parser.add_argument("--profile", default="dev")
    parser.add_argument("--examples", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--relations", type=int, default=30, help="specs on which to time each relation")
    args = parser.parse_args()

    from hypothesis import given, settings

    from conv_oracle import fuzz as fuzz_module
    from conv_oracle import profiles, registry, runner
    from conv_oracle.cases import make_arrays
    from conv_oracle.oracles import torch_oracle
    from conv_oracle.oracles.worker import JaxWorker, pin_away_from_worker
    from conv_oracle.relations import RELATIONS
    from conv_oracle.strategies import cases

    plugin = registry.load(args.impl)
    with JaxWorker() as worker:
        worker.settings()
        pin_away_from_worker()
        fuzz_module.fuzz(plugin, profile=args.profile, examples=args.examples, seed=args.seed,
                         jax_worker=worker, honesty=False)                       # warm-up, same cases
        drawn = []
        runner.make_arrays = timed("arrays", runner.make_arrays)
        runner.execute = timed("plugin", runner.execute)
        torch_oracle.reference = timed("torch truth + magnitudes", torch_oracle.reference)
        runner.bound_context = timed("bounds", runner.bound_context)
        runner.total_bounds = timed("bounds", runner.total_bounds)
        runner.compare_output = timed("comparison", runner.compare_output, case_only=True)
        runner.CrossCheck.submit = timed("JAX queue (submit)", runner.CrossCheck.submit)
        runner.oracle_disagreements = timed("JAX verdict", runner.oracle_disagreements)
        try:                           # the driver that calls run_case: the engine, or the old fuzz module
            from conv_oracle import engine as driver
        except ImportError:
            driver = fuzz_module
        run_case = driver.run_case

        def counted(plugin_, spec, seed, fill, **kw):
            drawn.append((spec, seed, fill))
            IN_CASE[0] = True
            try:
                return run_case(plugin_, spec, seed, fill, **kw)
            finally:
                IN_CASE[0] = False

        driver.run_case = timed("run_case", counted)
        summary = fuzz_module.fuzz(plugin, profile=args.profile, examples=args.examples, seed=args.seed,
                                   jax_worker=worker, honesty=False)
        n = len(drawn)
        jax_seconds = []
        for spec, seed, fill in drawn:
            if fill == "nonfinite":
                continue
            a = make_arrays(spec, seed, fill).as_float64()
            jax_seconds.append(worker._pool.submit(jax_compute, spec.descriptor(), a.x, a.w, a.b, a.gy).result())

    # the strategy draw and Hypothesis engine alone: the same search with an empty test body
    profiles.load(args.profile)

    @settings(max_examples=args.examples, database=None)
    @given(case=cases(plugin.capabilities))
    def draw_only(case):
        pass

    start = time.perf_counter()
    draw_only()
    TOTALS["strategy draw + Hypothesis engine (empty test)"] = time.perf_counter() - start

    relation_seconds = {}
    with runner.single_threaded():
        for name, relation in RELATIONS.items():
            start = time.perf_counter()
            for spec, seed, _ in drawn[:args.relations]:
                try:
                    relation(plugin, spec, seed)
                except Exception:      # noqa: BLE001 - a relation the spec does not admit still costs time
                    pass
            relation_seconds[name] = (time.perf_counter() - start) / min(args.relations, n)

    inside = TOTALS.pop("run_case")
    parts = [(k, TOTALS[k]) for k in ("arrays", "plugin", "torch truth + magnitudes", "bounds", "comparison",
                                      "JAX queue (submit)")]
    print(f"{args.impl}, profile {args.profile}, {n} examples ({summary.examples} counted), "
          f"{summary.rate:.1f} examples/s overall, {summary.examples / summary.seconds_before_drain:.1f}/s "
          f"before the JAX wait\n")
    print("| phase | ms per example | share of the in-process time |")
    print("|---|---|---|")
    in_process = summary.seconds_before_drain
    rows = [("Hypothesis engine + strategy draw (the rest of the search)", in_process - inside)] + parts + [
        ("run_case's own bookkeeping", inside - sum(v for _, v in parts))]
    for name, seconds in rows:
        print(f"| {name} | {1e3 * seconds / n:.3f} | {100 * seconds / in_process:.0f}% |")
    print(f"| **in process, total** | {1e3 * in_process / n:.3f} | 100% |")
    print(f"| JAX verdict (torch vs JAX, on the answer thread: overlaps the rows above) | "
          f"{1e3 * TOTALS['JAX verdict'] / n:.3f} | |")
    print(f"| wait for the JAX worker after the last example | {1e3 * (summary.seconds - in_process) / n:.3f} | |")
    if jax_seconds:
        print(f"| JAX worker compute (other CPU, in parallel), mean | {1e3 * sum(jax_seconds) / len(jax_seconds):.3f} | |")
    print(f"| strategy draw + Hypothesis engine alone (empty test body) | "
          f"{1e3 * TOTALS['strategy draw + Hypothesis engine (empty test)'] / args.examples:.3f} | |")
    for name, seconds in relation_seconds.items():
        print(f"| relation check '{name}' (not in `check`; pytest and selftest) | {1e3 * seconds:.3f} | |")


if __name__ == "__main__":
    main()
