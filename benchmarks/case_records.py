"""Every record a campaign writes, for two source trees to compare: the case records (JAX verdict
included), failure records and run records (timings left out) of the built-ins and eight planted
bugs, ci and dev seeds, oracle and honesty searches; then run_case on 400 drawn specs with every
fill (NaN/Inf included) for each of them, and 150 x 6 of those with the JAX cross-check.

    flock -s /tmp/conv-oracle-cpu.lock env PYTHONPATH=TREE CONV_ORACLE_PROFILE=ci \\
        .venv/bin/python benchmarks/case_records.py OUT.jsonl
    python benchmarks/case_records.py --compare MAIN.jsonl NEW.jsonl     # exit 1 on any difference

Records of one campaign are compared in campaign order (``index``): armed records arrive in the
order the JAX answers do. Paths inside tracebacks are written as TREE.
"""
import collections
import json
import os
import sys


def dump():
    from conv_oracle import registry
    from conv_oracle.engine import run_campaign
    from conv_oracle.oracles.worker import JaxWorker, pin_away_from_worker
    from conv_oracle.runner import run_case, CrossCheck, single_threaded
    from conv_oracle.spec import ConvSpec
    from conv_oracle.cases import FILLS

    out, quick = sys.argv[1], "--quick" in sys.argv
    tree = os.environ["PYTHONPATH"]
    builtins = ["loop", "im2col", "fft", "winograd-f2", "winograd-f4", "winograd-f6"]
    mutants = ["conv_oracle.mutants:" + m for m in ("dilation_ignored", "output_not_rounded", "accumulates_in_bfloat16",
               "fast_3x3_s1_transposed_taps", "blocked_c16_drops_last_channel", "dx_crop_minus_pad",
               "bias_after_rounding", "forward_flips_kernel")]
    lines = []

    def norm(d):
        return json.loads(json.dumps(d, default=float).replace(tree, "TREE"))

    with JaxWorker() as worker:
        worker.settings(); pin_away_from_worker()
        runs = [(i, "ci", None, None) for i in builtins + mutants] + \
               [(i, "dev", 0, None if i in builtins else 100) for i in builtins + mutants]
        if quick:
            runs = runs[:3]
        descriptors = set()
        for impl, profile, seed, examples in runs:
            plugin = registry.load(impl)
            recs = []
            s = run_campaign(plugin, profile=profile, seed=seed, examples=examples, jax_worker=worker,
                             database=None, searches=["oracle", "honesty"],
                             on_result=lambda r: recs.append(("case", r.to_dict())),
                             on_record=lambda d: recs.append(("rec", dict(d))))
            for kind, d in recs:
                d.pop("seconds", None); d.pop("seconds_before_drain", None)
                lines.append({"run": [impl, profile, seed], **norm(d)})
                if d.get("record") == "case":
                    descriptors.add(d["descriptor"])
            lines.append({"run": [impl, profile, seed], "summary": s.line(), "verdict": s.verdict,
                          "results_in_order": [r.key for r in s.results]})
            print(impl, profile, s.line()[:120], flush=True)
        # sweep: every fill on drawn specs, built-ins and planted bugs, no JAX
        specs = sorted(descriptors)[: (20 if quick else 400)]
        with single_threaded():
            for impl in (builtins + mutants if not quick else builtins[:2]):
                plugin = registry.load(impl)
                for i, desc in enumerate(specs):
                    for fill in FILLS:
                        r = run_case(plugin, ConvSpec.parse(desc), i, fill)
                        lines.append({"sweep": impl, **norm(r.to_dict())})
            cross = CrossCheck(worker)
            for i, desc in enumerate(specs[:150]):
                for fill in FILLS:
                    r = run_case(registry.load("loop"), ConvSpec.parse(desc), i, fill, cross_check=cross)
            for r in sorted(cross.finished(wait=True), key=lambda r: (r.descriptor, r.seed, r.fill)):
                lines.append({"sweep-jax": 1, **norm(r.to_dict())})
    with open(out, "w") as f:
        for line in lines:
            f.write(json.dumps(line, sort_keys=True) + "\n")
    print(len(lines), "lines")




def compare(first: str, second: str) -> int:
    a = [json.loads(l) for l in open(first)]
    b = [json.loads(l) for l in open(second)]
    print(f"{first}: {len(a)} lines, {second}: {len(b)} lines")
    kinds = collections.Counter()
    fills = collections.Counter()
    for x in a:
        kinds["sweep (run_case, every fill)" if "sweep" in x else "sweep with JAX cross-check" if "sweep-jax" in x
              else "summary" if "summary" in x else f"campaign {x.get('record')}"] += 1
        if x.get("record") == "case" or "sweep" in x or "sweep-jax" in x:
            fills[(x.get("fill"), x.get("status"))] += 1
    print("kinds:", dict(kinds))
    print("(fill, status):", dict(sorted(fills.items())))
    print("failing records by kind:", dict(collections.Counter(x["kind"] for x in a if x.get("status") == "fail")))
    print("JAX statuses:", dict(collections.Counter((x.get("jax") or {}).get("status") for x in a if "jax" in x)))

    def key(x):   # records of a campaign arrive in JAX-answer order: sort them by their index in the campaign
        return (json.dumps(x.get("run")), "sweep" in x or "sweep-jax" in x, x.get("index", -1) if "run" in x else 0)
    a = [x for _, x in sorted(enumerate(a), key=lambda p: (key(p[1]), p[0]))]
    b = [x for _, x in sorted(enumerate(b), key=lambda p: (key(p[1]), p[0]))]
    diff = [i for i, (x, y) in enumerate(zip(a, b)) if x != y]
    print("differing lines:", len(diff) + abs(len(a) - len(b)))
    for i in diff[:5]:
        x, y = a[i], b[i]
        print(i, {k: (x.get(k), y.get(k)) for k in set(x) | set(y) if x.get(k) != y.get(k)})
    return 1 if diff or len(a) != len(b) else 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--compare"]:
        sys.exit(compare(sys.argv[2], sys.argv[3]))
    dump()
