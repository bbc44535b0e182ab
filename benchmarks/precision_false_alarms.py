"""False alarms of the low-precision bounds: correct plugins that accumulate in float32 in another
order than the loop (numpy pairwise sums, reversed taps, reversed dw batch order; and im2col's
GEMMs) fuzzed in bfloat16 and float16 with the dev profile. Every failure is a false alarm.

    python benchmarks/precision_false_alarms.py --examples 10000 --out reports/precision_false_alarms.json

Prints and writes: examples run per plugin, failures, and the largest error/bound per output.
"""
from __future__ import annotations

import argparse
import json
import time

from conv_oracle import mutants, registry
from conv_oracle.engine import run_campaign
from conv_oracle.runner import ORACLE


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=10_000, help="examples per plugin (default 10000)")
    parser.add_argument("--plugins", default="pairwise_sum,reversed_sum,blocked_dw,im2col")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out")
    args = parser.parse_args()
    rows = []
    for name in args.plugins.split(","):
        plugin = mutants.build(name)() if name in mutants.BY_NAME else registry.load(name)
        start = time.perf_counter()
        summary = run_campaign(plugin, profile="dev", examples=args.examples, seed=args.seed, database=None,
                               searches=[ORACLE], dtypes=("bfloat16", "float16"))
        results = [r for r in summary.results if r.search == ORACLE]
        worst = {}
        for r in results:
            for v in r.verdicts:
                worst[v.output] = max(worst.get(v.output, 0.0), v.max_ratio)
        failures = [r.replay() for r in results if not r.ok]
        rows.append({"plugin": name, "examples": len(results), "failures": len(failures),
                     "failing": failures[:5], "worst_ratio": worst, "seconds": time.perf_counter() - start,
                     "dtypes": sorted({r.descriptor.split()[-1] for r in results})})
        print(json.dumps(rows[-1]), flush=True)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump({"profile": "dev", "seed": args.seed, "rows": rows}, f, indent=1)
            f.write("\n")
    return 0 if all(r["failures"] == 0 for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
