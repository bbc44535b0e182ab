"""Records streamed to a JSON-lines file as they are produced, so that nothing gathered so
far is lost when a run is interrupted, and restored from it for ``--resume``.

A stream holds case records (``"record": "case"``, :meth:`CaseResult.to_dict`, the JAX
verdict included), and at the end of each campaign its failure records (first and shrunk
case of each distinct failure) and its run record (what the case records do not say).

A run killed mid-write leaves a torn last line: it is cut off before anything is appended,
so a second interruption loses nothing either. (Records a run restores with ``--resume``
are not written again: the engine emits only the cases it runs.)
"""
from __future__ import annotations

import json
import os
import shlex
import threading
from contextlib import contextmanager

from .config import shown

_opened: list["ResultStream"] = []      # this process's streams, for the Ctrl-C message (kept once closed)


class StreamError(ValueError):
    """A file that cannot be streamed to or resumed from (one line)."""


class StreamWriteError(BaseException):
    """A write that failed mid-run (a full disk). A BaseException, so that a Hypothesis search
    stops at once instead of shrinking through it."""


class ResultStream:
    def __init__(self, handle=None, path: str | None = None):
        self.handle, self.path = handle, path
        self.written = 0                  # records this run appended
        self.lock = threading.Lock()     # records may come from the JAX answer thread

    def write(self, result) -> None:
        """One case record (a CaseResult)."""
        if self.handle is not None:       # no file (check without --jsonl): no record to build
            self.write_record(result.to_dict())

    def write_record(self, record: dict) -> None:
        if self.handle is None:
            return
        line = json.dumps(record, default=float) + "\n"
        with self.lock:
            try:
                self.handle.write(line)
                self.handle.flush()
            except OSError as exc:
                self.handle = None            # what is buffered is lost; closing would only fail again
                raise StreamWriteError(f"cannot write to {self.path}: {exc.strerror or exc}; "
                                       f"{self.written} records of this run were saved before") from None
            self.written += 1

    @classmethod
    @contextmanager
    def open(cls, path: str | None):
        """Append to ``path`` (None: write nothing), after cutting a torn last line."""
        if path is None:
            stream = cls()
            _opened.append(stream)
            yield stream
            return
        try:
            cut_torn_line(path)
            handle = open(path, "a", encoding="utf-8")
        except OSError as exc:
            raise StreamError(f"cannot write to {path}: {exc.strerror or exc}") from None
        stream = cls(handle, path)
        _opened.append(stream)
        try:
            yield stream
        finally:
            with stream.lock:             # a verdict the JAX answer thread hands over later is not written:
                stream.handle = None      # the count an interrupted run reports stays what the file holds
                try:
                    handle.close()
                except OSError:           # a failed flush was reported by write already
                    pass


def cut_torn_line(path: str) -> int:
    """Truncate a regular file after its last newline; returns the bytes removed."""
    try:
        if not os.path.isfile(path) or os.path.getsize(path) == 0:
            return 0
    except OSError:
        return 0
    with open(path, "r+b") as handle:
        size = end = handle.seek(0, os.SEEK_END)
        keep = 0
        while end > 0:                    # look for the last newline, 64 KiB at a time from the end
            start = max(0, end - 65536)
            handle.seek(start)
            newline = handle.read(end - start).rfind(b"\n")
            if newline >= 0:
                keep = start + newline + 1
                break
            end = start
        if keep < size:
            handle.truncate(keep)
        return size - keep


def read(path: str) -> list[dict]:
    """Records of a stream; a torn last line (the run was killed mid-write) is ignored,
    anything else that is not a record is a StreamError."""
    with open(path, encoding="utf-8", errors="replace") as handle:
        lines = handle.read().split("\n")
    complete, torn = lines[:-1], lines[-1]          # text after the last newline: torn or empty
    records = []
    for number, line in enumerate(complete, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            record = None
        if not isinstance(record, dict) or not ("record" in record or "impl" in record):
            raise StreamError(f"{path} is not a stream of conv-oracle records: line {number} is {shown(line)}")
        records.append(record)
    if torn.strip() and not complete and not torn.lstrip().startswith("{"):   # not even a torn record
        raise StreamError(f"{path} is not a stream of conv-oracle records: it begins {shown(torn)}")
    return records


def read_all(paths) -> list[dict]:
    """The records of several streams, in order (a campaign's shards concatenate)."""
    return [record for path in paths for record in read(path)]


def recorded_results(path: str, plugin) -> dict:
    """{record key: CaseResult} of ``plugin``'s case records in a stream, for ``--resume``;
    each keeps everything that was checked, its JAX verdict included. A file that holds no
    record of ``plugin`` (another plugin's, or not a stream at all) is a StreamError: a
    resume never silently starts afresh."""
    from .runner import CaseResult, plugin_name

    name = plugin_name(plugin)
    if os.path.isdir(path):
        raise StreamError(f"--resume {path}: is a directory, not a record stream")
    try:
        records = read(path)
    except FileNotFoundError:
        raise StreamError(f"--resume {path}: no such file (to start afresh, leave out --resume)") from None
    except OSError as exc:
        raise StreamError(f"--resume {path}: {exc.strerror or exc}") from None
    except StreamError as exc:
        raise StreamError(f"--resume: {exc}") from None
    out = {}
    cases = [r for r in records if r.get("record", "case") == "case"]
    for r in cases:
        if r.get("impl") != name:
            continue
        try:
            result = CaseResult.from_dict(r)
        except (KeyError, TypeError, ValueError) as exc:
            raise StreamError(f"--resume {path}: a record of {name} cannot be read ({exc!r}): "
                              "was it written by another version of conv-oracle?") from None
        out[result.key] = result
    if cases and not out:
        others = sorted({str(r.get("impl")) for r in cases})
        raise StreamError(f"--resume {path}: it holds records of {', '.join(others)}, none of {name}; "
                          "resume from a stream of this plugin, or leave out --resume to start afresh")
    return out


def saved_cases(path: str) -> int:
    """Case records in a stream (what an interrupted run has kept)."""
    try:
        return sum(r.get("record", "case") == "case" for r in read(path))
    except (OSError, StreamError):
        return 0


def interrupted_message(argv: list[str]) -> str:
    """What was saved and the command that resumes, for an interrupted ``check``."""
    if not _opened:
        return "nothing was saved"
    stream = _opened[-1]
    if stream.path is None:
        return "no results were saved: give --jsonl FILE to keep them and to be able to resume"
    return (f"{saved_cases(stream.path)} case records are saved in {stream.path}; resume with: conv-oracle "
            + shlex.join(resume_argv(argv, stream.path)))


def resume_argv(argv: list[str], path: str) -> list[str]:
    """``argv`` with ``--resume path`` (replacing any earlier --resume)."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg == "--resume":
            skip = True
            continue
        if arg.startswith("--resume="):
            continue
        out.append(arg)
    return out + ["--resume", path]
