"""Markdown made inert: the one place where data-derived text is escaped for every ``.md`` the tool writes.

Every string a Markdown writer takes from a run (ids, texts, labels, file names, config values, notes) goes
through :func:`md_text` (a paragraph, a list item, a heading) or :func:`md_cell` (a table cell). After it, no
viewer sees markup from the data: no HTML tag, entity or ``<...>`` autolink (``&``, ``<``, ``>`` are
HTML-escaped), no link or image (``[``, ``]`` backslash-escaped), no bare autolink (``http://``,
``www.``: the ``:`` or the ``.`` escaped), no code span or emphasis (backtick, ``*``, ``~``, a ``_`` at a
word's edge), no table break (``|`` escaped, line breaks turned into spaces), and in :func:`md_text` no
heading, list or quote started by the text. :func:`md_code` fences verbatim text (the manifest).
"""

from __future__ import annotations

import html
import re

from auditor.report.numbers import fmt

__all__ = ["md_cell", "md_code", "md_text"]

# HTML's three (a tag, an entity, an autolink cannot start), then Markdown's: a backslash (so no escape
# below can be undone), a backtick (code spans), brackets (links, images, reference definitions), a pipe
# (table cells), ``*`` and ``~`` (emphasis, strikethrough); line breaks become spaces (one line, one cell).
_ESCAPES = str.maketrans(
    {"&": "&amp;", "<": "&lt;", ">": "&gt;", "\\": "\\\\", "`": "\\`", "[": "\\[", "]": "\\]", "|": "\\|"}
    | {"*": "\\*", "~": "\\~"}
    | {c: " " for c in "\r\n\v\f\x1c\x1d\x1e\x85\u2028\u2029"}
)
_SCHEME = re.compile(r"(?<=[A-Za-z0-9.+-]):(?=//)")  # http://, ftp://, javascript:// ... (GFM autolinks)
_WWW = re.compile(r"(?i)(?<![A-Za-z0-9_.-])(www)\.")  # www.example.org (GFM extended autolink)
_EDGE_UNDERSCORE = re.compile(r"(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")  # intraword '_' (min_k_pp) is inert
_BLOCK_START = re.compile(r"^(\s*)(?:([#+=-])|(\d+)([.)]))")  # a heading, list, setext line at a line's start


def md_cell(value: object) -> str:
    """``fmt(value)`` as inert Markdown inline text that stays in its table cell."""
    text = fmt(value).translate(_ESCAPES)
    text = _SCHEME.sub(r"\\:", text)
    text = _WWW.sub(r"\1\\.", text)
    return _EDGE_UNDERSCORE.sub(r"\\_", text)


def md_text(value: object) -> str:
    """``fmt(value)`` as inert Markdown text that may open a line (a paragraph, a heading's or list item's text):
    :func:`md_cell`, and a leading ``#``, ``-``, ``+``, ``=`` or ``1.`` escaped so the text starts no block."""
    text = md_cell(value)
    m = _BLOCK_START.match(text)
    if not m:
        return text
    if m.group(2):
        return f"{m.group(1)}\\{text[m.end(1) :]}"
    return f"{m.group(1)}{m.group(3)}\\{text[m.end(3) :]}"


def md_code(text: str) -> list[str]:
    """A fenced code block holding ``text``: ``&<>`` escaped, the fence longer than any backtick run in it."""
    fence = "`" * max(3, 1 + max((len(m) for m in re.findall(r"`+", text)), default=0))
    return [fence, html.escape(text, quote=False), fence]
