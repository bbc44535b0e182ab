"""Argument types of the command line, and a parser whose errors are one line.

Each type turns one string into a value or raises ``argparse.ArgumentTypeError`` saying,
in one line, what is wrong and what would be right. Paths are checked before any work
starts, so a bad ``--jsonl`` or ``--out`` costs nothing of a long run.
"""
from __future__ import annotations

import argparse
import math
import os
from pathlib import Path

from .config import directory_problem, parse_count, shown

LONGEST_MESSAGE = 300
MIN_MEMORY_MIB = 64          # isolation.MIN_MEMORY_LIMIT in MiB (kept import-free: the parser loads fast)
MAX_SEED = 2**64 - 1


class Parser(argparse.ArgumentParser):
    """argparse with a one-line error on stderr and exit code 2 (no usage block)."""

    def error(self, message: str):
        where = self.prog.removeprefix("conv-oracle").strip()
        text = f"{where}: {message}" if where else message
        self.exit(2, f"conv-oracle: error: {cut(text)} (see {self.prog} --help)\n")


def _number(text: str) -> float:
    if not text.isascii():
        raise argparse.ArgumentTypeError(f"{shown(text)} is not a number (ASCII digits only)")
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{shown(text)} is not a number") from None


def _positive(unit: str):
    def parse(text: str) -> float:
        value = _number(text)
        if not math.isfinite(value) or value <= 0:
            raise argparse.ArgumentTypeError(f"must be a positive, finite number of {unit}, got {shown(text)}")
        return value
    parse.__name__ = unit
    return parse


seconds = _positive("seconds")      # --timeout
minutes = _positive("minutes")      # --minutes


def memory_mib(text: str) -> float:
    """MiB of resident memory a worker may add after start-up (``--memory-limit``): 0 for no limit, else at least 64."""
    value = _number(text)
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 (no limit) or a number of MiB, got {shown(text)}")
    if 0 < value < MIN_MEMORY_MIB:
        raise argparse.ArgumentTypeError(f"{value:g} MiB is too small to run a worker: give at least "
                                         f"{MIN_MEMORY_MIB}, or 0 for no limit")
    return value


DEFAULT_MEMORY_MIB = 4096    # isolation.DEFAULT_MEMORY_LIMIT in MiB


def add_worker_limits(parser: argparse.ArgumentParser, applies: str = "") -> None:
    """``--timeout`` and ``--memory-limit``: the limits of the worker processes a command starts
    (``check``, ``selftest``), the same parsing and defaults everywhere; ``applies`` adds when."""
    parser.add_argument("--timeout", type=seconds, default=None,
                        help="seconds per case in the worker (default: 1000 x the torch oracle's time on the case, "
                             f"at least 10){applies}")
    parser.add_argument("--memory-limit", type=memory_mib, default=None,
                        help=f"MiB of resident memory the worker may add after start-up (default {DEFAULT_MEMORY_MIB}; "
                             f"0: no limit){applies}")


def memory_limit_bytes(mib: float | None) -> int:
    """``--memory-limit`` as the executors take it: bytes, 0 for no limit, the default when not given."""
    return int((DEFAULT_MEMORY_MIB if mib is None else mib) * 2**20)


def count(minimum: int = 1):
    """A whole number (ASCII digits) of at least ``minimum``: ``--examples``, ``--repeats``."""
    def parse(text: str) -> int:
        try:
            return parse_count(text, "value", minimum)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc).removeprefix("value=")) from None
    parse.__name__ = f"count of at least {minimum}"
    return parse


def seed(text: str) -> int:
    """A seed: a whole number from 0 to 2**64 - 1."""
    try:
        value = parse_count(text, "seed", 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"seed {shown(text)}: give a whole number from 0 to 2**64 - 1") from None
    if value > MAX_SEED:
        raise argparse.ArgumentTypeError(f"seed {shown(text)} is larger than 2**64 - 1")
    return value


def _checked_path(check):
    """A path type whose OSError (a name too long for the file system) is a one-line error."""
    def parse(text: str) -> str:
        if "\x00" in text or not text:
            raise argparse.ArgumentTypeError(f"{shown(text)} is not a usable file name")
        try:
            return check(text)
        except OSError as exc:
            raise argparse.ArgumentTypeError(f"{shown(text)}: {exc.strerror or exc}") from None
    parse.__name__ = check.__name__
    parse.__doc__ = check.__doc__
    return parse


@_checked_path
def output_file(text: str) -> str:
    """A file to append to (``--jsonl``): not a directory, in a directory that exists and is writable."""
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{shown(text)} is a directory: name a file in it, e.g. {text.rstrip('/')}/run.jsonl")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise argparse.ArgumentTypeError(f"directory {shown(str(parent))} does not exist")
    if path.exists() and not os.access(path, os.W_OK):
        raise argparse.ArgumentTypeError(f"{shown(text)} is not writable")
    if not path.exists() and not os.access(parent, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"directory {shown(str(parent))} is not writable")
    return text


@_checked_path
def output_dir(text: str) -> str:
    """A directory to write reports into (``--out``): created if missing, so its nearest
    existing ancestor must be a writable directory."""
    problem = directory_problem(Path(text))
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return text


@_checked_path
def input_file(text: str) -> str:
    """An existing, readable regular file (``--resume``, ``--from-json``)."""
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{shown(text)} is a directory, not a file")
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"no such file {shown(text)}")
    if not os.access(path, os.R_OK):
        raise argparse.ArgumentTypeError(f"{shown(text)} is not readable")
    return text


def mutant(text: str) -> str:
    """A planted-bug name of ``conv_oracle.mutants``."""
    from .mutants import BY_NAME

    if text not in BY_NAME:
        raise argparse.ArgumentTypeError(f"unknown mutant {shown(text)}; known: {', '.join(sorted(BY_NAME))}")
    return text


def cut(message: str) -> str:
    """A message as one printable line of at most LONGEST_MESSAGE characters: control
    characters (a newline or carriage return typed into an argument) are escaped."""
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in message.strip())
    return text if len(text) <= LONGEST_MESSAGE else text[:LONGEST_MESSAGE] + "..."


def version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("conv-oracle")
    except PackageNotFoundError:
        return "unknown (not installed)"


DESCRIPTION = """\
conv-oracle: is this conv2d right, and how fast is it?

Fuzzes a 2-D convolution implementation (a plugin) against float64 torch and JAX oracles,
judges every output within an error bound derived from what the plugin declares, and
prints a minimal failing case with the command that replays it."""

EPILOG = """\
examples:
  conv-oracle list                                  installed implementations and their status
  conv-oracle check loop                            fuzz one implementation (profile dev)
  conv-oracle check my_conv.py:EinsumConv           an unpackaged plugin, from its file
  conv-oracle check fft --case 'n2c3h9w7f4k3 f32' --seed 7     replay one case
  conv-oracle report --impl im2col                  conformance report -> reports/
  conv-oracle bench --quick                         timing against torch and JAX

exit codes: 0 all passed; 1 a failure was found (or a selected plugin failed);
2 bad input (one line on stderr); 3 the torch and JAX oracles disagree; 4 too few cases
to judge (insufficient); 130 interrupted.
Settings read from the environment: CONV_ORACLE_PROFILE, CONV_ORACLE_IMPLS,
CONV_ORACLE_MAX_ELEMENTS, CONV_ORACLE_DB, CONV_ORACLE_CACHE (see the README).
Each command has its own --help."""
