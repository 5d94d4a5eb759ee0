"""A tiny document model rendered two ways: a self-contained HTML page and Markdown.

Sections hold blocks (paragraphs, tables, images, preformatted text, and for the first screen a verdict
banner and figure cards). The HTML escapes every string
it is given (model outputs, dataset texts, config values, file names), embeds images as PNG data URIs
and carries a Content-Security-Policy that forbids scripts and any network fetch, so the page is
inert and loads nothing from outside itself. The Markdown gives the same guarantee to a viewer that
renders HTML: every string is passed through ``md_text`` or ``md_cell`` (auditor.report.markdown), or
``md_code`` inside a code fence, so no tag, entity, link, image or table break in the data reaches the page
as markup.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from urllib.parse import quote

from auditor.report.markdown import md_cell, md_code, md_text
from auditor.report.numbers import fmt
from auditor.report.style import STYLE

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
STATUSES = ("PASS", "FAIL", "INCONCLUSIVE")  # a rule's status, styled in tables and on cards


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
class Gallery:
    """Images side by side (one per checkpoint), wrapping onto the next line on a narrow screen."""

    images: list[Image]


@dataclass
class Details:
    """Blocks collapsed under a one-line summary (HTML ``<details>``; Markdown shows them under the line)."""

    summary: str
    blocks: list = field(default_factory=list)


@dataclass
class Verdict:
    """The first screen's banner: ``PASS``, ``FAIL`` or ``NO POLICY``, a sentence, and what was audited."""

    status: str
    detail: str
    facts: list[tuple[str, str]] = field(default_factory=list)  # (name, value): checkpoint, fingerprint, date ...


@dataclass
class Card:
    """One deciding figure: its value with CI, the rule it was held to, what it was measured on, its direction
    and what it means."""

    name: str
    value: object
    ci: object = None
    status: str = ""  # PASS / FAIL / INCONCLUSIVE when a rule checked it
    lines: list[str] = field(default_factory=list)  # rule, evidence (n of N unit), baseline, direction
    meaning: str = ""


@dataclass
class Cards:
    cards: list[Card]


@dataclass
class Section:
    title: str
    blocks: list = field(default_factory=list)
    level: int = 2


@dataclass
class Document:
    title: str
    sections: list[Section] = field(default_factory=list)


def _data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _html_table(b: Table) -> str:
    e = html.escape
    head = "".join(f"<th>{e(h)}</th>" for h in b.headers)
    rows = []
    for row in b.rows:
        cells = []
        for i, c in enumerate(row):
            text = fmt(c)
            cls = ""
            if i in b.text_columns:
                cls = " class='text'"
            elif text in STATUSES:
                cls = f" class='{text.lower()}'"
            cells.append(f"<td{cls}>{e(text)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<div class='scroll'><table><tr>{head}</tr>{''.join(rows)}</table></div>"


def _html_image(b: Image) -> str:
    return f"<img src='{_data_uri(b.path)}' alt='{html.escape(b.alt)}'>" if b.path.exists() else ""


def _html_verdict(b: Verdict) -> str:
    e = html.escape
    cls = b.status.lower() if b.status in ("PASS", "FAIL") else "none"
    facts = "".join(f"<span>{e(k)}: <code>{e(v)}</code></span>" for k, v in b.facts)
    return (
        f"<div id='verdict' class='verdict {cls}'><p class='status {cls}'>Verdict: {e(b.status)}</p>"
        f"<p>{e(b.detail)}</p><p class='facts'>{facts}</p></div>"
    )


def _html_card(c: Card) -> str:
    e = html.escape
    cls = f" {c.status.lower()}" if c.status in STATUSES else ""
    badge = f"<div class='badge{cls}'>{e(c.status)}</div>" if c.status else ""
    ci = f"<div class='line'>95% CI {e(fmt(c.ci))}</div>" if c.ci is not None else ""
    lines = "".join(f"<div class='line'>{e(t)}</div>" for t in c.lines)
    meaning = f"<p class='meaning'>{e(c.meaning)}</p>" if c.meaning else ""
    return (
        f"<div class='card{cls}'>{badge}<div class='name'>{e(c.name)}</div>"
        f"<div class='value'>{e(fmt(c.value))}</div>{ci}{lines}{meaning}</div>"
    )


def _html_block(b: object) -> str:
    e = html.escape
    if isinstance(b, Paragraph):
        cls = f" class='{e(b.css)}'" if b.css else ""
        return f"<p{cls}>{e(b.text)}</p>"
    if isinstance(b, Table):
        return _html_table(b)
    if isinstance(b, Image):
        img = _html_image(b)
        return f"<p>{img}</p>" if img else ""
    if isinstance(b, Gallery):
        return "<div class='gallery'>" + "".join(_html_image(i) for i in b.images) + "</div>"
    if isinstance(b, Pre):
        return f"<pre>{e(b.text)}</pre>"
    if isinstance(b, Details):
        inner = "".join(_html_block(x) for x in b.blocks)
        return f"<details><summary>{e(b.summary)}</summary>{inner}</details>"
    if isinstance(b, Verdict):
        return _html_verdict(b)
    if isinstance(b, Cards):
        return "<div class='cards'>" + "".join(_html_card(c) for c in b.cards) + "</div>"
    raise TypeError(f"no HTML for {type(b).__name__}")


def render_html(doc: Document) -> str:
    e = html.escape
    out = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<meta http-equiv='Content-Security-Policy' content=\"{CSP}\">",
        f"<title>{e(doc.title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{e(doc.title)}</h1>",
    ]
    for s in doc.sections:
        if s.title:
            out.append(f"<h{s.level}>{e(s.title)}</h{s.level}>")
        out += [_html_block(b) for b in s.blocks]
    out.append("</body></html>")
    return "".join(out)


def _md_link(rel: str) -> str:
    return quote(PurePath(rel).as_posix(), safe="/")


md_inline = md_cell  # the name this module gave it first (auditor.report.markdown holds the escaping)


def _md_card_rows(cards: list[Card]) -> list[str]:
    e = md_cell
    lines = [
        "| status | figure | value | 95% CI | rule, n, baseline, direction | meaning |",
        "|---|---|---|---|---|---|",
    ]
    for c in cards:
        cells = [c.status or "-", c.name, c.value, "" if c.ci is None else c.ci, "; ".join(c.lines), c.meaning]
        lines.append("| " + " | ".join(e(x) for x in cells) + " |")
    return [*lines, ""]


def _md_block(b: object) -> list[str]:
    e = md_cell
    if isinstance(b, Paragraph):
        return [md_text(b.text), ""]
    if isinstance(b, Table):
        lines = ["| " + " | ".join(e(h) for h in b.headers) + " |", "|" + "---|" * len(b.headers)]
        return [*lines, *["| " + " | ".join(e(c) for c in row) + " |" for row in b.rows], ""]
    if isinstance(b, Image):
        return [f"![{e(b.alt)}]({_md_link(b.rel or b.path.name)})", ""] if b.path.exists() else []
    if isinstance(b, Gallery):
        return [line for i in b.images for line in _md_block(i)]
    if isinstance(b, Pre):
        return [*md_code(b.text), ""]
    if isinstance(b, Details):
        return [md_text(b.summary) + ":", "", *[line for x in b.blocks for line in _md_block(x)]]
    if isinstance(b, Verdict):
        return [f"Verdict: {e(b.status)}. {e(b.detail)}", "", *[f"- {md_text(k)}: {e(v)}" for k, v in b.facts], ""]
    if isinstance(b, Cards):
        return _md_card_rows(b.cards)
    raise TypeError(f"no Markdown for {type(b).__name__}")


def render_markdown(doc: Document) -> str:
    """The document as Markdown: every string escaped by ``md_text`` / ``md_cell``, so the data adds no markup."""
    e = md_text
    lines = [f"# {e(doc.title)}", ""]
    for s in doc.sections:
        if s.title:
            lines += ["#" * s.level + " " + e(s.title), ""]
        for b in s.blocks:
            lines += _md_block(b)
    return "\n".join(lines)
