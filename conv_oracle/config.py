"""Every ``CONV_ORACLE_*`` environment variable, read and checked in one place.

Each reader parses its variable when called (tests and tox change the environment between
calls) and raises :class:`ConfigError`, whose message is the one line the CLI prints before
exiting with code 2. :func:`check_all` validates every variable that is set, up front.

| variable | meaning | default |
|---|---|---|
| ``CONV_ORACLE_PROFILE`` | Hypothesis profile of the test suite (ci, dev, thorough) | dev |
| ``CONV_ORACLE_IMPLS`` | comma-separated implementations for the tests and ``report`` | all registered |
| ``CONV_ORACLE_MAX_ELEMENTS`` | work budget: elements of x + w + y per drawn case | the profile's (``profiles.MAX_ELEMENTS``) |
| ``CONV_ORACLE_DB`` | Hypothesis example database directory | .hypothesis/examples |
| ``CONV_ORACLE_CACHE`` | cache directory (JAX compilations under ``jax/``) | .cache |
| ``CONV_ORACLE_SINGLE_CORE`` | set to 1 by ``bench --single-core`` in its pinned re-run | unset |
| ``CONV_ORACLE_SUMMARY_FD`` | set by the CLI's supervisor of ``--trusted`` runs | unset |
| ``CONV_ORACLE_TEST_STALL_AFTER`` | tests only: the forward call at which the test suite's stalling plugin stops answering | unset |

(``CONV_ORACLE_VENV``, read by ``./run`` only, names the virtualenv it installs into.)
"""
from __future__ import annotations

import os
from pathlib import Path

PROFILES = ("ci", "dev", "thorough")
DEFAULT_MAX_ELEMENTS = 3000
MIN_MAX_ELEMENTS = 10               # below this no case can be drawn
LONGEST_SHOWN = 60                  # characters of a bad value quoted in a message


class ConfigError(ValueError):
    """An environment variable with a value that cannot be used."""


def shown(value: str) -> str:
    """A value quoted for a one-line message, cut when long."""
    text = value if len(value) <= LONGEST_SHOWN else value[:LONGEST_SHOWN] + "..."
    return repr(text)


def _raw(name: str) -> str | None:
    value = os.environ.get(name)
    return None if value is None or value.strip() == "" else value.strip()


def parse_count(text: str, what: str, minimum: int) -> int:
    """A whole number in ASCII digits, at least ``minimum``; ValueError says what is wrong."""
    if not (text.isascii() and text.lstrip("+").isdigit()):
        raise ValueError(f"{what}={shown(text)}: give a whole number (ASCII digits), at least {minimum}")
    value = int(text)
    if value < minimum:
        raise ValueError(f"{what}={value}: must be at least {minimum}")
    return value


def profile(default: str = "dev") -> str:
    raw = _raw("CONV_ORACLE_PROFILE")
    if raw is None:
        return default
    if raw not in PROFILES:
        raise ConfigError(f"CONV_ORACLE_PROFILE={shown(raw)}: choose one of {', '.join(PROFILES)}")
    return raw


def impls() -> list[str]:
    """Names from ``CONV_ORACLE_IMPLS`` (empty: all registered). Whether they exist is the registry's call."""
    raw = _raw("CONV_ORACLE_IMPLS") or ""
    return [n.strip() for n in raw.split(",") if n.strip()]


def max_elements(default: int = DEFAULT_MAX_ELEMENTS) -> int:
    raw = _raw("CONV_ORACLE_MAX_ELEMENTS")
    if raw is None:
        return default
    try:
        return parse_count(raw, "CONV_ORACLE_MAX_ELEMENTS", MIN_MAX_ELEMENTS)
    except ValueError as exc:
        raise ConfigError(f"{exc} (elements of x + w + y per drawn case)") from None


def database_dir() -> str:
    return _raw("CONV_ORACLE_DB") or ".hypothesis/examples"


def cache_dir() -> Path:
    raw = _raw("CONV_ORACLE_CACHE")
    return Path(raw) if raw else Path.cwd() / ".cache"


def directory_problem(path: Path) -> str | None:
    """Why ``path`` cannot be a directory to write in (created if missing), or None: it must
    be a directory, or its nearest existing ancestor a writable one."""
    try:
        if path.exists() and not path.is_dir():
            return f"{path} is a file, not a directory"
        probe = path
        while not probe.exists() and probe.parent != probe:
            probe = probe.parent
        if not probe.is_dir():
            return f"{probe} is not a directory"
        if not os.access(probe, os.W_OK | os.X_OK):
            return f"{probe} is not writable"
    except OSError as exc:                  # a name too long for the file system
        return exc.strerror or str(exc)
    return None


def _writable_dir(name: str, path: Path) -> None:
    problem = directory_problem(path)
    if problem:
        raise ConfigError(f"{name}={shown(str(path))}: {problem}")


def single_core() -> bool:
    return _raw("CONV_ORACLE_SINGLE_CORE") == "1"


SUMMARY_FD = "CONV_ORACLE_SUMMARY_FD"


def summary_fd() -> int | None:
    raw = _raw(SUMMARY_FD)
    return int(raw) if raw and raw.isascii() and raw.isdigit() else None


TEST_STALL_AFTER = "CONV_ORACLE_TEST_STALL_AFTER"


def test_stall_after() -> int | None:
    """The forward call (1, 2, ...) at which ``tests.test_cli:StallsMidway`` stops answering, so
    that a test interrupts a run midway whatever the machine's speed; None: it never stalls."""
    raw = _raw(TEST_STALL_AFTER)
    if raw is None:
        return None
    try:
        return parse_count(raw, TEST_STALL_AFTER, 1)
    except ValueError as exc:
        raise ConfigError(f"{exc} (the call at which the test plugin stalls)") from None


def check_all() -> None:
    """Parse every variable that is set; the first bad one raises ConfigError."""
    profile()
    max_elements()
    test_stall_after()
    for name, path in (("CONV_ORACLE_CACHE", cache_dir()), ("CONV_ORACLE_DB", Path(database_dir()))):
        if _raw(name) is not None:
            _writable_dir(name, path)
