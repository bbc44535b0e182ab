"""The JSON Schemas of the reports (``conv_oracle/schemas/*.schema.json``): validation, and the
field reference of ``docs/report-schema.md``, generated from them so the two cannot drift.

``python -m conv_oracle.schema_doc`` rewrites the generated parts of the document; the tests
check that it is up to date and validate every report they write against its schema.
"""
from __future__ import annotations

import json
import sys
from functools import lru_cache
from pathlib import Path

SCHEMAS = Path(__file__).parent / "schemas"
KINDS = ("conformance", "frameworks", "training", "timing", "records")
DOC = Path(__file__).parent.parent / "docs" / "report-schema.md"


@lru_cache(maxsize=None)
def schema(kind: str) -> dict:
    return json.loads((SCHEMAS / f"{kind}.schema.json").read_text(encoding="utf-8"))


@lru_cache(maxsize=None)
def registry():
    """Every schema under its ``$id``: one may ``$ref`` another (the frameworks report extends the
    conformance report's definitions: ``"$ref": "../conformance/1#/$defs/..."``)."""
    from referencing import Registry, Resource

    return Registry().with_resources((schema(k)["$id"], Resource.from_contents(schema(k))) for k in KINDS)


def validate(kind: str, document) -> None:
    """Raise ``jsonschema.ValidationError`` unless ``document`` follows the ``kind`` schema."""
    from jsonschema import Draft202012Validator

    Draft202012Validator(schema(kind), registry=registry()).validate(document)


def _merge(base: dict, extra: dict) -> dict:
    """``extra`` laid over ``base`` (the keywords of a ``$ref`` or ``allOf`` and their neighbours):
    properties and items merge member by member, required lists join, other keywords: extra wins."""
    out = dict(base)
    for key, value in extra.items():
        if key == "properties" and key in out:
            out[key] = {**out[key], **{k: _merge(out[key][k], v) if k in out[key] else v for k, v in value.items()}}
        elif key == "items" and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        elif key == "required" and key in out:
            out[key] = list(dict.fromkeys([*out[key], *value]))
        else:
            out[key] = value
    return out


def inlined(node: dict, resolver=None) -> dict:
    """``node`` with every ``$ref`` and ``allOf`` merged in place, for the field tables only
    (validation uses the schemas as they are)."""
    if "$id" in node:
        resolver = registry().resolver(base_uri=node["$id"])
    out = {}
    if "$ref" in node:
        target = resolver.lookup(node["$ref"])
        out = inlined(target.contents, target.resolver)
    for part in node.get("allOf", []):
        out = _merge(out, inlined(part, resolver))
    own = {}
    for key, value in node.items():
        if key == "properties":
            own[key] = {name: inlined(child, resolver) for name, child in value.items()}
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            own[key] = inlined(value, resolver)
        elif key in ("oneOf", "anyOf"):
            own[key] = [inlined(child, resolver) for child in value]
        elif key not in ("$ref", "allOf", "$defs"):
            own[key] = value
    return _merge(out, own)


def _type(node: dict) -> str:
    if "const" in node:
        return json.dumps(node["const"])
    if "enum" in node:
        return " \\| ".join(json.dumps(v) for v in node["enum"])
    t = node.get("type", "any")
    return " \\| ".join(t) if isinstance(t, list) else t


def _rows(node: dict, path: str):
    if "oneOf" in node:
        for alt in node["oneOf"]:
            label = alt.get("title") or alt.get("description", "one of")
            yield from _rows(alt, f"{path} ({label})" if path else f"({label})")
        return
    if path:
        yield path, _type(node), node.get("description", "")
    if node.get("type") == "array" and isinstance(node.get("items"), dict) and node["items"].get("properties") \
            or "oneOf" in node.get("items", {}):
        yield from _rows(node["items"], f"{path}[]")
    for name, child in node.get("properties", {}).items():
        yield from _rows(child, f"{path}.{name}" if path else name)
    extra = node.get("additionalProperties")
    if isinstance(extra, dict) and (extra.get("properties") or extra.get("additionalProperties")):
        yield from _rows(extra, f"{path}.*")


#: kind -> the kind its schema extends: its table lists only the rows that differ from that one's
EXTENDS = {"frameworks": "conformance"}


def field_table(kind: str) -> str:
    rows = list(_rows(inlined(schema(kind)), ""))
    lines = []
    if kind in EXTENDS:
        shared = set(_rows(inlined(schema(EXTENDS[kind])), ""))
        rows = [r for r in rows if r not in shared]
        lines = [f"Every field of `{schema(EXTENDS[kind])['$id']}` (the schema refers to its definitions), "
                 "and these, which it adds or changes:", ""]
    lines += ["| field | type | meaning |", "|---|---|---|"]
    lines += [f"| `{p}` | {t} | {d.replace('|', chr(92) + '|')} |" for p, t, d in rows]
    return "\n".join(lines)


def _marks(kind: str) -> tuple[str, str]:
    return f"<!-- generated from conv_oracle/schemas/{kind}.schema.json: do not edit -->", f"<!-- end {kind} -->"


def render(doc: str) -> str:
    """``doc`` with every generated block replaced by the table of its schema (appended if absent)."""
    for kind in KINDS:
        start, end = _marks(kind)
        block = f"{start}\n{field_table(kind)}\n{end}"
        if start in doc:
            head, rest = doc.split(start, 1)
            doc = head + block + rest.split(end, 1)[1]
        else:
            doc = doc.rstrip("\n") + f"\n\n### Fields of `{schema(kind)['$id']}`\n\n{block}\n"
    return doc


def main() -> int:
    DOC.write_text(render(DOC.read_text(encoding="utf-8")), encoding="utf-8")
    print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
