"""Per-case results streamed to a JSON-lines file as they are produced, so that nothing
gathered so far is lost when a run is interrupted."""
from __future__ import annotations

import json
from contextlib import contextmanager


class ResultStream:
    def __init__(self, handle=None):
        self.handle = handle

    def write(self, result) -> None:
        if self.handle is not None:
            self.handle.write(result.to_json() + "\n")
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


def recorded_results(path: str, plugin) -> dict:
    """{(descriptor, seed, fill): CaseResult} of ``plugin`` from a stream, for ``--resume``."""
    from .compare import Verdict
    from .runner import CaseResult

    name = getattr(plugin, "registry_name", plugin.name)
    out = {}
    try:
        records = read(path)
    except FileNotFoundError:
        return out
    for r in records:
        if r.get("impl") != name:
            continue
        verdicts = [Verdict(**{**v, "worst_index": tuple(v["worst_index"]) if v["worst_index"] is not None else None})
                    for v in r["verdicts"]]
        fields = {k: r[k] for k in ("impl", "descriptor", "seed", "fill", "status", "kind", "detail", "unsupported")}
        out[(r["descriptor"], r["seed"], r["fill"])] = CaseResult(**fields, verdicts=verdicts)
    return out
