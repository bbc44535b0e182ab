"""Records streamed to a JSON-lines file as they are produced, so that nothing gathered so
far is lost when a run is interrupted, and restored from it for ``--resume``.

A stream holds case records (``"record": "case"``, :meth:`CaseResult.to_dict`, the JAX
verdict included), and at the end of each campaign its failure records (first and shrunk
case of each distinct failure) and its run record (what the case records do not say).
"""
from __future__ import annotations

import json
from contextlib import contextmanager


class ResultStream:
    def __init__(self, handle=None):
        self.handle = handle

    def write(self, result) -> None:
        """One case record (a CaseResult)."""
        self.write_record(result.to_dict())

    def write_record(self, record: dict) -> None:
        if self.handle is not None:
            self.handle.write(json.dumps(record, default=float) + "\n")
            self.handle.flush()

    @classmethod
    @contextmanager
    def open(cls, path: str | None):
        if path is None:
            yield cls()
            return
        with open(path, "a", encoding="utf-8") as handle:
            yield cls(handle)


def read(path: str) -> list[dict]:
    """Records of a stream; a torn last line (the run was killed mid-write) is ignored."""
    records = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                break
    return records


def read_all(paths) -> list[dict]:
    """The records of several streams, in order (a campaign's shards concatenate)."""
    return [record for path in paths for record in read(path)]


def recorded_results(path: str, plugin) -> dict:
    """{record key: CaseResult} of ``plugin``'s case records in a stream, for ``--resume``;
    each keeps everything that was checked, its JAX verdict included."""
    from .runner import CaseResult, plugin_name

    name = plugin_name(plugin)
    out = {}
    try:
        records = read(path)
    except FileNotFoundError:
        return out
    for r in records:
        if r.get("record", "case") != "case" or r.get("impl") != name:
            continue
        result = CaseResult.from_dict(r)
        out[result.key] = result
    return out
