"""Rendering shared by the reports: one section model, written as Markdown and as HTML.

A report is a list of :class:`Section`, each a title and blocks (paragraphs, sub-headings,
tables with optional cell classes, preformatted text, lists, inline SVG plots).
:func:`to_markdown` and :func:`to_html` walk the same sections, so no section is written
twice. Also here: number formatting, atomic file replacement, matplotlib as inline SVG.
"""
from __future__ import annotations

import contextlib
import html
import io
import os
import tempfile
from dataclasses import dataclass, field


@dataclass
class Section:
    title: str
    id: str = ""
    blocks: list[tuple] = field(default_factory=list)

    def p(self, text: str, small: bool = False) -> "Section":
        self.blocks.append(("p", text, small))
        return self

    def h3(self, text: str) -> "Section":
        self.blocks.append(("h3", text))
        return self

    def table(self, header, rows, classes=None) -> "Section":
        self.blocks.append(("table", list(header), [list(r) for r in rows], classes))
        return self

    def pre(self, text: str) -> "Section":
        self.blocks.append(("pre", text))
        return self

    def items(self, texts) -> "Section":
        texts = list(texts)
        if texts:
            self.blocks.append(("list", texts))
        return self

    def svg(self, svg: str | None) -> "Section":
        if svg:
            self.blocks.append(("svg", svg))
        return self


def to_markdown(title: str, sections: list[Section]) -> str:
    out = [f"# {title}", ""]
    for s in sections:
        if s.title:
            out += [f"## {s.title}", ""]
        for block in s.blocks:
            kind = block[0]
            if kind == "p":
                out += [block[1], ""]
            elif kind == "h3":
                out += [f"### {block[1]}", ""]
            elif kind == "table":
                out += [md_table(block[1], block[2]), ""]
            elif kind == "pre":
                out += ["```", block[1], "```", ""]
            elif kind == "list":
                out += [f"- {t}" for t in block[1]] + [""]
            # plots are in the HTML only
    return "\n".join(out).rstrip("\n") + "\n"


def to_html(title: str, sections: list[Section]) -> str:
    b = [f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{_h(title)}</title>"
         f"<style>{CSS}</style></head><body>", f"<h1>{_h(title)}</h1>"]
    for s in sections:
        if s.title:
            b.append(f"<h2 id=\"{_h(s.id)}\">{_h(s.title)}</h2>" if s.id else f"<h2>{_h(s.title)}</h2>")
        for block in s.blocks:
            kind = block[0]
            if kind == "p":
                b.append(f"<p class=\"small\">{_h(block[1])}</p>" if block[2] else f"<p>{_h(block[1])}</p>")
            elif kind == "h3":
                b.append(f"<h3>{_h(block[1])}</h3>")
            elif kind == "table":
                b.append(html_table(block[1], block[2], block[3]))
            elif kind == "pre":
                b.append(f"<pre>{_h(block[1])}</pre>")
            elif kind == "list":
                b.append("<ul>" + "".join(f"<li>{_h(t)}</li>" for t in block[1]) + "</ul>")
            elif kind == "svg":
                b.append(f"<div class=\"plot\">{block[1]}</div>")
    b.append("</body></html>")
    return "\n".join(b) + "\n"


def atomic_write(path: str, content) -> None:
    """Write ``content`` (str, or a callable writing to a text file handle) to ``path`` through a
    temporary file in the same directory, then ``os.replace``: readers see the old file or the
    new one, never a torn one, and a writer that fails leaves the old file untouched."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            if callable(content):
                content(fh)
            else:
                fh.write(content)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_report_files(stem: str, texts: dict[str, str], out_dir: str) -> dict[str, str]:
    """Write ``{ext: text}`` (rendered beforehand, so a render error writes nothing) as
    ``out_dir/stem.ext``, each replaced atomically; returns {ext: path}."""
    paths = {ext: os.path.join(out_dir, f"{stem}.{ext}") for ext in texts}
    for ext, text in texts.items():
        atomic_write(paths[ext], text)
    return paths


def fmt(x, digits: int = 3) -> str:
    if x is None:
        return "-"
    if isinstance(x, str):
        return x
    if isinstance(x, bool):
        return str(x)
    if isinstance(x, int):
        return str(x)
    if x == 0:
        return "0"
    return f"{x:.{digits}g}"


def md_table(header: list[str], rows: list[list]) -> str:
    esc = lambda v: str(v).replace("|", "\\|").replace("\n", " ")  # noqa: E731
    lines = ["| " + " | ".join(esc(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(esc(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def environment_lines(env: dict) -> list[tuple[str, str]]:
    t = env.get("torch_oracle") or {}
    j = env.get("jax_oracle") or {}
    blas = "; ".join(f"{b.get('internal_api')} {b.get('version')} kernel={b.get('architecture')} "
                     f"threads={b.get('num_threads')} ({b.get('user_api')}, {b.get('prefix')})" for b in env.get("blas", []))
    c, d = env.get("cpu") or {}, env.get("onednn") or {}
    return [
        ("CPU", f"{c.get('model', '?')} [{' '.join(c.get('isa', [])) or 'ISA flags not recorded'}]"),
        ("oneDNN", f"{d.get('version') or '?'}, ISA {d.get('isa') or '?'}, torch CPU capability "
                   f"{d.get('cpu_capability', '?')}"),
        ("torch oracle", ", ".join(f"{k}={v}" for k, v in t.items())),
        ("JAX oracle", ", ".join(f"{k}={v}" for k, v in j.items()) if j else env.get("jax_oracle_error", "not run")),
        ("numpy", env.get("numpy", "?")), ("hypothesis", env.get("hypothesis", "?")),
        ("python", env.get("python", "?")), ("platform", env.get("platform", "?")), ("cpus", str(env.get("cpus"))),
        ("BLAS", blas or "none found"),
        ("BLAS environment", ", ".join(f"{k}={v}" for k, v in (env.get("blas_env") or {}).items())),
    ]


def _svg(fig) -> str:
    """A matplotlib figure as inline SVG text (deterministic ids, no date)."""
    import matplotlib.pyplot as plt

    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None}, bbox_inches="tight")
    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg"):]


def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matplotlib.rcParams.update({"svg.hashsalt": "conv-oracle", "svg.fonttype": "none", "font.size": 9})
    return plt


CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:1200px;color:#222;padding:0 1em}
h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.8em}
table{border-collapse:collapse;margin:.6em 0;font-size:.85em}
th,td{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top}
th{background:#f3f3f3}
td.pass{background:#d9f2d9}td.fail{background:#f7c5c5;font-weight:bold}
td.refused{background:#dde7f7}td.answered{background:#fbe3b0;font-weight:bold}
td.not-exercised{background:#f7f7f7;color:#999}
span.pass{color:#1a7f1a;font-weight:bold}span.fail{color:#b00;font-weight:bold}
pre,code{background:#f6f6f6;font-size:.9em}pre{padding:.5em;overflow-x:auto;white-space:pre-wrap}
.small{color:#666;font-size:.85em}.plot svg{max-width:100%;height:auto}
"""


def _h(x) -> str:
    return html.escape(str(x))


def html_table(header, rows, classes=None) -> str:
    out = ["<table><thead><tr>" + "".join(f"<th>{_h(h)}</th>" for h in header) + "</tr></thead><tbody>"]
    for i, row in enumerate(rows):
        cells = []
        for j, c in enumerate(row):
            cls = classes[i][j] if classes and classes[i][j] else ""
            cells.append(f"<td class=\"{cls}\">{_h(c)}</td>" if cls else f"<td>{_h(c)}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    return "".join(out) + "</tbody></table>"
