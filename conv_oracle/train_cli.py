"""``conv-oracle train IMPL...``: the training check on the command line (``cli.py`` wires it
with one line, :func:`add_train_parser`).

Exit 0 when every implementation agrees with torch on every variant, 1 when one disagrees,
faults or cannot be judged (declared unsupported), 2 on bad input.
"""
from __future__ import annotations

import argparse
import time
from contextlib import contextmanager

from .report_cli import DEFAULT_OUT

BUILTINS = ("loop", "im2col", "fft", "winograd-f2", "winograd-f4", "winograd-f6")


def add_train_parser(subparsers) -> argparse.ArgumentParser:
    from . import arguments
    from .train import ACTIVATIONS, DEFAULT_SEED, DEFAULT_STEPS, VARIANTS

    p = subparsers.add_parser("train", help="train a small CNN with the implementation and with torch, compare "
                                            "their learning -> reports/training.{json,md,html}")
    p.add_argument("impl", nargs="*", help="entry-point names or module:attr (e.g. conv_oracle.mutants:NAME)")
    p.add_argument("--builtins", action="store_true", help=f"add the built-ins ({', '.join(BUILTINS)})")
    p.add_argument("--planted-bugs", action="store_true",
                   help="add the planted training bugs (dw, db, dx scaled by 1/N: conv_oracle.mutants)")
    p.add_argument("--steps", type=arguments.count(1), default=DEFAULT_STEPS, help=f"SGD steps (default {DEFAULT_STEPS})")
    p.add_argument("--seed", type=arguments.seed, default=DEFAULT_SEED,
                   help=f"data, weights and batches (default {DEFAULT_SEED})")
    p.add_argument("--variant", action="append", choices=list(VARIANTS), help="only this dataset (repeatable)")
    p.add_argument("--activation", choices=list(ACTIVATIONS), default="softplus",
                   help="softplus (default: smooth, so the band argument holds) or relu")
    p.add_argument("--trusted", action="store_true",
                   help="call the implementation in this process (faster; no protection from hangs or crashes)")
    p.add_argument("--out", type=arguments.output_dir, default=DEFAULT_OUT, help=f"report directory (default {DEFAULT_OUT}/)")
    p.add_argument("--no-report", action="store_true", help="print the verdicts only")
    p.set_defaults(func=cmd_train)
    return p


def _line(c) -> str:
    if c.trajectory is None:
        return f"{c.impl} {c.variant}: {c.status.upper()}: {c.detail}"
    t = c.trajectory
    head = (f"{c.impl} {c.variant}: {c.status} (max divergence {c.ratio[c.worst]:.3g} x baseline in {c.worst}, "
            f"band {c.multiple:.3g} x; loss {t.loss[-1]:.4g}, test accuracy {t.test_accuracy[-1][1]:.3g}; "
            f"{c.seconds:.1f} s)")
    if c.first_outside:
        metric, step = c.first_outside
        head += f"\n  first outside the band at step {step} in {metric}"
    return head


@contextmanager
def _executor(impl: str, trusted: bool):
    """A worker process per implementation (as ``check``), unless --trusted."""
    if trusted:
        yield None
        return
    from .isolation import IsolatedExecutor

    with IsolatedExecutor(impl) as executor:
        yield executor


def _widths(b) -> str:
    return ", ".join(f"{k} {v:.2g}" for k, v in b.widths.items())


def cmd_train(args) -> int:
    from . import mutants, registry
    from .cli import UsageError, say
    from .runner import single_threaded
    from .train import VARIANTS, Baseline, check

    names = (list(BUILTINS) if args.builtins else []) + list(args.impl)
    names += [f"conv_oracle.mutants:{n}" for n in mutants.TRAINING_BUG_NAMES] if args.planted_bugs else []
    names = list(dict.fromkeys(names))
    if not names:
        raise UsageError("name an implementation (or give --builtins / --planted-bugs)")
    plugins = [(n, registry.load(n)) for n in names]        # bad names fail here, before any training
    start = time.perf_counter()
    with single_threaded():    # the torch runs first: a library loaded later must not slow them
        baselines = [Baseline.run(VARIANTS[v], args.steps, args.seed, args.activation)
                     for v in args.variant or list(VARIANTS)]
    for b in baselines:
        say(f"baseline {b.schedule.variant.name}: width {_widths(b)}; torch test accuracy "
            f"{b.torch.test_accuracy[-1][1]:.3g}; correct orders measured like a plugin: up to "
            f"{max(max(r.values()) for r in b.self_check()):.3g} x width")
    checks = []
    for impl, plugin in plugins:
        with _executor(impl, args.trusted) as executor, single_threaded():
            for b in baselines:
                checks.append(check(plugin, b, impl, executor))
                say(_line(checks[-1]))
    seconds = time.perf_counter() - start
    if not args.no_report:
        from .training_report import build_training, write_training

        report = build_training(baselines, checks, steps=args.steps, seed=args.seed, activation=args.activation,
                                seconds=seconds)
        try:
            paths = write_training(report, args.out)
        except OSError as exc:     # the verdicts above stand; say why the files are missing
            raise UsageError(f"could not write the report into {args.out}: {exc.strerror or exc}") from exc
        say(f"wrote {', '.join(paths.values())}")
    bad = [c for c in checks if not c.ok]
    say(f"{len(checks) - len(bad)}/{len(checks)} agree with torch within the band; {seconds:.1f} s")
    for c in bad:
        say(f"replay: conv-oracle train {c.impl} --steps {args.steps} --seed {args.seed} --variant {c.variant} "
            f"--activation {args.activation}")
    return 1 if bad else 0
