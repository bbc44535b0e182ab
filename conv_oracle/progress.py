"""Progress of a long run (``check``, ``report``): a rich progress bar on a terminal, and an
occasional plain line on stderr otherwise (a CI log, a pipe), never a flood.

Updates are cheap (a counter and a clock read); rich redraws from its own thread at a few
hertz, so a run is no slower for it.
"""
from __future__ import annotations

import sys
import time

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

PLAIN_EVERY_S = 30.0      # seconds between plain lines when stderr is not a terminal


class RunProgress:
    """``with RunProgress("loop", total) as progress: ... progress.advance(failed=...)``"""

    def __init__(self, label: str, total: int | None, *, console: Console | None = None,
                 enabled: bool | None = None, plain_every: float = PLAIN_EVERY_S):
        self.console = console or Console(stderr=True)
        self.label, self.total = label, total
        self.terminal = self.console.is_terminal if enabled is None else enabled
        self.plain_every = plain_every
        self.done = self.failed = 0
        self._bar = None
        self._started = self._last_line = time.monotonic()

    def __enter__(self):
        if self.terminal:
            self._bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[note]}"), TimeElapsedColumn(), console=self.console,
                                 transient=True, refresh_per_second=4)
            self._bar.__enter__()
            self._task = self._bar.add_task(self.label, total=self.total, note="")
        return self

    def advance(self, *, counted: bool = True, failed: bool = False) -> None:
        """One record: ``counted`` toward the total (a drawn case, not a relation's), ``failed``."""
        self.done += counted
        self.failed += failed
        if self._bar is not None:
            self._bar.update(self._task, advance=int(counted), note=f"{self.failed} failing" if self.failed else "")
            return
        now = time.monotonic()
        if now - self._last_line >= self.plain_every:
            self._last_line = now
            of = f"/{self.total}" if self.total else ""
            print(f"{self.label}: {self.done}{of} cases, {self.failed} failing, {now - self._started:.0f} s",
                  file=sys.stderr, flush=True)

    def __exit__(self, *exc):
        if self._bar is not None:
            self._bar.__exit__(*exc)
