"""A tiny document model rendered two ways: a self-contained HTML page and Markdown.

Sections hold blocks (paragraphs, tables, images, preformatted text). The HTML escapes every string
it is given (model outputs, dataset texts, config values, file names), embeds images as PNG data URIs
and carries a Content-Security-Policy that forbids scripts and any network fetch, so the page is
inert and loads nothing from outside itself. The Markdown gives the same guarantee to a viewer that
renders HTML: every string is passed through :func:`md_inline` (or :func:`md_code` inside a code
fence), so no tag, entity, link, image or table break in the data reaches the page as markup.
"""

from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from urllib.parse import quote

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"

STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222;padding:0 1em}"
    "table{border-collapse:collapse;margin:.6em 0 1.2em}td,th{border:1px solid #ccc;padding:3px 8px;"
    "text-align:left;vertical-align:top}th{background:#f3f3f3}pre{background:#f6f6f6;padding:1em;"
    "overflow:auto;font-size:12px}img{max-width:100%;border:1px solid #eee}.pass{color:#0a6b0a;font-weight:bold}"
    ".fail{color:#b00020;font-weight:bold}.muted{color:#666}td.text{max-width:600px;word-break:break-word}"
)


@dataclass
class Paragraph:
    text: str
    css: str = ""


@dataclass
class Table:
    headers: list[str]
    rows: list[list[object]]
    text_columns: tuple[int, ...] = ()  # long free text (wrapped)


@dataclass
class Image:
    path: Path
    alt: str
    rel: str | None = None  # the path Markdown links to (relative to report.md)


@dataclass
class Pre:
    text: str


@dataclass
class Section:
    title: str
    blocks: list = field(default_factory=list)
    level: int = 2


@dataclass
class Document:
    title: str
    sections: list[Section] = field(default_factory=list)


def fmt(v: object) -> str:
    """Numbers to 4 significant places, pairs as CIs, None as empty."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, list | tuple) and len(v) == 2 and all(isinstance(x, int | float) for x in v):
        return f"[{v[0]:.3g}, {v[1]:.3g}]"
    return str(v)


def _data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def render_html(doc: Document) -> str:
    e = html.escape
    out = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<meta http-equiv='Content-Security-Policy' content=\"{CSP}\">",
        f"<title>{e(doc.title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{e(doc.title)}</h1>",
    ]
    for s in doc.sections:
        out.append(f"<h{s.level}>{e(s.title)}</h{s.level}>")
        for b in s.blocks:
            if isinstance(b, Paragraph):
                cls = f" class='{e(b.css)}'" if b.css else ""
                out.append(f"<p{cls}>{e(b.text)}</p>")
            elif isinstance(b, Table):
                head = "".join(f"<th>{e(h)}</th>" for h in b.headers)
                rows = []
                for row in b.rows:
                    cells = []
                    for i, c in enumerate(row):
                        text = fmt(c)
                        cls = ""
                        if i in b.text_columns:
                            cls = " class='text'"
                        elif text in ("PASS", "FAIL"):
                            cls = f" class='{text.lower()}'"
                        cells.append(f"<td{cls}>{e(text)}</td>")
                    rows.append("<tr>" + "".join(cells) + "</tr>")
                out.append(f"<table><tr>{head}</tr>{''.join(rows)}</table>")
            elif isinstance(b, Image):
                if b.path.exists():
                    out.append(f"<p><img src='{_data_uri(b.path)}' alt='{e(b.alt)}'></p>")
            elif isinstance(b, Pre):
                out.append(f"<pre>{e(b.text)}</pre>")
    out.append("</body></html>")
    return "".join(out)


# HTML's three (a tag, an entity, an autolink cannot start), then Markdown's: a backslash (so no escape
# below can be undone), a backtick (code spans), ``[``/``]`` (links, images, reference definitions) and
# ``|`` (table cells); line breaks become spaces so a string stays on its one line (one cell, one heading).
_MD_ESCAPES = str.maketrans(
    {"&": "&amp;", "<": "&lt;", ">": "&gt;", "\\": "\\\\", "`": "\\`", "[": "\\[", "]": "\\]", "|": "\\|"}
    | {c: " " for c in "\r\n\v\f\x1c\x1d\x1e\x85\u2028\u2029"}
)


def md_inline(v: object) -> str:
    """``fmt(v)`` made inert as Markdown inline text: every string the Markdown writes goes through here."""
    return fmt(v).translate(_MD_ESCAPES)


def md_code(text: str) -> list[str]:
    """A fenced code block holding ``text``: ``&<>`` escaped, the fence longer than any backtick run in it."""
    fence = "`" * max(3, 1 + max((len(m) for m in re.findall(r"`+", text)), default=0))
    return [fence, html.escape(text, quote=False), fence]


def _md_link(rel: str) -> str:
    return quote(PurePath(rel).as_posix(), safe="/")


def render_markdown(doc: Document) -> str:
    e = md_inline
    lines = [f"# {e(doc.title)}", ""]
    for s in doc.sections:
        lines += ["#" * s.level + " " + e(s.title), ""]
        for b in s.blocks:
            if isinstance(b, Paragraph):
                lines += [e(b.text), ""]
            elif isinstance(b, Table):
                lines.append("| " + " | ".join(e(h) for h in b.headers) + " |")
                lines.append("|" + "---|" * len(b.headers))
                lines += ["| " + " | ".join(e(c) for c in row) + " |" for row in b.rows]
                lines.append("")
            elif isinstance(b, Image):
                if b.path.exists():
                    lines += [f"![{e(b.alt)}]({_md_link(b.rel or b.path.name)})", ""]
            elif isinstance(b, Pre):
                lines += [*md_code(b.text), ""]
    return "\n".join(lines)
