"""Fuzzing throughput (examples/s of ``conv-oracle check --trusted``) of two source trees,
measured in the same run, interleaved (ABBA per round), warm.

    flock -x /tmp/conv-oracle-cpu.lock .venv/bin/python benchmarks/fuzz_throughput.py \\
        --tree old=/tmp/strategies-old --tree new=. --impl loop --profile dev --rounds 3 \\
        [--max-elements 3000] [--examples 300] [--families adversarial] [--json out.json]

Each measurement is a fresh process per tree (``PYTHONPATH`` = the tree) with its own JAX
worker, as ``check`` runs: one fuzzing pass with the measured seed first (JAX compiles its
buckets, Python warms up), then the same pass again, timed: examples / seconds including
the wait for the JAX worker (and, beside it, the rate before that wait). The first pass's
rate is printed too: in the first round it includes every JAX compilation (a cold cache), in
later ones loading the buckets from JAX's persistent cache. The honesty search runs as in
``check``. Both trees share one JAX compilation cache directory. Run it under
``taskset -c 1`` for the single-core figure (the JAX worker then shares that core).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile


def child(args) -> None:
    from conv_oracle import registry
    from conv_oracle.fuzz import fuzz
    from conv_oracle.oracles.worker import JaxWorker, pin_away_from_worker

    plugin = registry.load(args.impl)
    from conv_oracle import profiles
    if args.families and hasattr(profiles, "FAMILY_SHARES"):   # e.g. adversarial only: the old generator's workload
        chosen = args.families.split(",")
        profiles.FAMILY_SHARES[args.profile] = {f: 1 / len(chosen) for f in chosen}
    with JaxWorker() as worker:
        worker.settings()
        pin_away_from_worker()
        first = fuzz(plugin, profile=args.profile, examples=args.examples, seed=args.seed, jax_worker=worker)
        s = fuzz(plugin, profile=args.profile, examples=args.examples, seed=args.seed, jax_worker=worker)
    print(json.dumps({"examples": s.examples, "seconds": s.seconds, "rate": s.rate,
                      "rate_before_drain": s.examples / s.seconds_before_drain, "ok": s.ok,
                      "first_rate": first.rate}))


def measure(tree: str, impl: str, args, seed: int, cache: str) -> dict:
    env = dict(os.environ, PYTHONPATH=tree, CONV_ORACLE_CACHE=cache)
    if args.max_elements:
        env["CONV_ORACLE_MAX_ELEMENTS"] = str(args.max_elements)
    with tempfile.TemporaryDirectory() as db:
        env["CONV_ORACLE_DB"] = db
        cmd = [sys.executable, os.path.abspath(__file__), "--child", "--impl", impl, "--profile", args.profile,
               "--seed", str(seed)] + (["--examples", str(args.examples)] if args.examples else []) \
        + (["--families", args.families] if args.families else [])
        out = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True, check=False)
    if out.returncode:
        raise SystemExit(f"{tree} {impl}: exit {out.returncode}\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", action="append", default=[], help="NAME=PATH of a source tree (repeatable)")
    parser.add_argument("--impl", action="append", default=[])
    parser.add_argument("--profile", default="dev")
    parser.add_argument("--examples", type=int)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--max-elements", type=int, help="CONV_ORACLE_MAX_ELEMENTS for every tree")
    parser.add_argument("--families", help="comma-separated spec families for trees that have them "
                        "(default: the profile's shares)")
    parser.add_argument("--json")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        args.impl = args.impl[0]
        return child(args)
    trees = dict(t.split("=", 1) for t in args.tree)
    names = list(trees)
    rows = {}
    with tempfile.TemporaryDirectory() as cache:
        for r in range(args.rounds):
            for impl in args.impl or ["loop"]:
                order = names if r % 2 == 0 else names[::-1]          # ABBA across rounds
                for name in order:
                    got = measure(os.path.abspath(trees[name]), impl, args, seed=r, cache=cache)
                    rows.setdefault((impl, name), []).append(got)
                    print(f"round {r} {impl:12s} {name:6s} {got['rate']:7.1f}/s overall "
                          f"({got['rate_before_drain']:.1f}/s before the JAX wait), {got['examples']} examples, "
                          f"{got['seconds']:.1f} s{'' if got['ok'] else ', FAILURES'}; first pass (JAX compiling "
                          f"or loading its buckets) {got.get('first_rate', 0):.1f}/s", flush=True)
    print(f"\nmedians over {args.rounds} rounds, profile {args.profile}, "
          f"budget {args.max_elements or 'each tree default'}, CPUs {sorted(os.sched_getaffinity(0))}")
    header = "| implementation | " + " | ".join(f"{n} ex/s (before JAX wait)" for n in names)
    print(header + (f" | {names[-1]}/{names[0]} |" if len(names) > 1 else " |"))
    print("|---" * (len(names) + 1 + (len(names) > 1)) + "|")
    summary = {}
    for impl in args.impl or ["loop"]:
        med = {n: (statistics.median(g["rate"] for g in rows[(impl, n)]),
                   statistics.median(g["rate_before_drain"] for g in rows[(impl, n)])) for n in names}
        summary[impl] = med
        cells = " | ".join(f"{med[n][0]:.1f} ({med[n][1]:.1f})" for n in names)
        ratio = f" | {med[names[-1]][0] / med[names[0]][0]:.2f}x |" if len(names) > 1 else " |"
        print(f"| {impl} | {cells}{ratio}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "rounds": {f"{k[0]}/{k[1]}": v for k, v in rows.items()},
                       "medians": summary}, f, indent=1)


if __name__ == "__main__":
    main()
