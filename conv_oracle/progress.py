"""Progress of a long run (``check``, ``report``): a rich progress bar on a terminal, and an
occasional plain line on stderr otherwise (a CI log, a pipe), never a flood.

Updates are cheap (a counter and a clock read); rich redraws from its own thread at a few
hertz, so a run is no slower for it. :func:`display` gives ``report`` (one task per plugin) a
rich ``Progress`` on a terminal and a :class:`PlainProgress`, the same ``add_task``/``update``
calls printed as plain lines, elsewhere; :class:`RunProgress` is ``check``'s single task.
"""
from __future__ import annotations

import sys
import time

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

PLAIN_EVERY_S = 30.0      # seconds between plain lines of a task when stderr is not a terminal


def _bar(console: Console, *, disable: bool = False) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[note]}"), TimeElapsedColumn(), console=console,
                    transient=True, refresh_per_second=4, disable=disable)


class PlainProgress:
    """What the runs call of rich's ``Progress`` (``add_task``, ``update``, a context manager),
    shown as plain lines on stderr: a task's line at most every ``every`` seconds, and one when
    its total or completed count is set (a plugin's campaign ended)."""

    def __init__(self, every: float = PLAIN_EVERY_S):
        self.every = every
        self._tasks: list[dict] = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None

    def add_task(self, description: str, total: float | None = None, **fields) -> int:
        now = time.monotonic()
        self._tasks.append({"label": description.strip(), "total": total, "done": 0, "note": fields.get("note", ""),
                            "started": now, "last": now})
        return len(self._tasks) - 1

    def update(self, task: int, *, advance: float = 0, total: float | None = None, completed: float | None = None,
               note: str | None = None, **_fields) -> None:
        t = self._tasks[task]
        t["done"] = completed if completed is not None else t["done"] + advance
        t["total"] = total if total is not None else t["total"]
        t["note"] = t["note"] if note is None else note
        now = time.monotonic()
        if completed is not None or total is not None or now - t["last"] >= self.every:
            t["last"] = now
            of = f"/{int(t['total'])}" if t["total"] else ""
            note_text = Text.from_markup(t["note"]).plain if t["note"] else ""
            print(f"{t['label']}: {int(t['done'])}{of} cases" + (f", {note_text}" if note_text else "")
                  + f", {now - t['started']:.0f} s", file=sys.stderr, flush=True)


def display(enabled: bool | None = None, console: Console | None = None):
    """The progress display of a run of several tasks: ``enabled`` None: a rich bar on a terminal,
    plain lines otherwise; True: the bar; False: nothing."""
    console = console or Console(stderr=True)
    if enabled is None and not console.is_terminal:
        return PlainProgress()
    return _bar(console, disable=enabled is False)


class RunProgress:
    """``with RunProgress("loop", total) as progress: ... progress.advance(failed=...)``"""

    def __init__(self, label: str, total: int | None, *, console: Console | None = None,
                 enabled: bool | None = None, plain_every: float = PLAIN_EVERY_S):
        self.console = console or Console(stderr=True)
        self.label, self.total = label, total
        self.terminal = self.console.is_terminal if enabled is None else enabled
        self.done = self.failed = 0
        self._shown = _bar(self.console) if self.terminal else PlainProgress(plain_every)

    def __enter__(self):
        self._shown.__enter__()
        self._task = self._shown.add_task(self.label, total=self.total, note="")
        return self

    def advance(self, *, counted: bool = True, failed: bool = False) -> None:
        """One record: ``counted`` toward the total (a drawn case, not a relation's), ``failed``."""
        self.done += counted
        self.failed += failed
        self._shown.update(self._task, advance=int(counted),
                           note=f"{self.failed} failing" if self.failed or not self.terminal else "")

    def __exit__(self, *exc):
        self._shown.__exit__(*exc)
