"""User task files in a documented JSONL format (e.g. TriviaQA or PopQA rows converted by the user).

Question-answer families (``fact_recall``, ``open_book``, ``overriding``), one object per line::

    {"id": "tqa-1", "question": "Which planet is the Red Planet?", "answers": ["Mars"]}
    {"id": "ob-1", "context": "Zubaria's capital is Kelmor.", "question": "What is the capital of Zubaria?",
     "answer": "Kelmor"}
    {"id": "ov-1", "context": "In this story, the capital of France is Lyon.",
     "question": "What is the capital of France?", "answer": "Lyon", "memorized_answer": "Paris"}

``id`` is required; ``question`` (rendered ``[Context: C ]Q: QUESTION A:`` after ``shots`` demonstrations
drawn from other rows of the file) or ``prompt`` (used verbatim, no demonstrations) is required;
``answer`` (a string) or ``answers`` (a non-empty list of strings) is required. Optional: ``context``,
``memorized_answer`` / ``memorized_answers`` (overriding QA).

Multiple-choice families (in-context classification; the family's ``output_type`` in
:data:`auditor.capability.schema.OUTPUT_TYPES`): ``{"id", "examples": [[X, LABEL], ...], "query": X,
"answer": LABEL, "labels": [L1, L2]}`` (X rendered as text, e.g. "3, 7"), or ``{"id", "prompt", "answer",
"choices"}``; their demonstrations are the row's own examples.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

from auditor.capability.schema import GENERATE_UNTIL, MULTIPLE_CHOICE, OUTPUT_TYPES, TaskItem, read_jsonl, sample_others
from auditor.errors import InputError

NEEDS_CONTEXT = ("open_book", "overriding")  # families whose 'question' rows must carry a 'context'


def _need(path: Path, line: int, row: dict, *keys: str) -> str:
    for k in keys:
        if k in row:
            return k
    shown = " or ".join(repr(k) for k in keys)
    raise InputError(f"{path}:{line}: missing field {shown}; fields there: {', '.join(row) or 'none'}")


def _str(path: Path, line: int, row: dict, key: str) -> str:
    v = row[key]
    if isinstance(v, int | float) and not isinstance(v, bool) and key in ("id", "query"):
        return str(v)
    if not isinstance(v, str) or not v.strip():
        raise InputError(f"{path}:{line}: field {key!r} must be a non-empty string, got {v!r}")
    return v


def _strs(path: Path, line: int, row: dict, one: str, many: str) -> tuple[str, ...]:
    """Field ``one`` (a string) or ``many`` (a list of strings); ``one == many`` names a list-only field."""
    key = _need(path, line, row, one, many)
    v = row[key]
    vals = [v] if key == one and one != many else v
    if not isinstance(vals, list) or not vals or not all(isinstance(x, str) and x.strip() for x in vals):
        raise InputError(f"{path}:{line}: field {key!r} must be a non-empty string or list of strings, got {v!r}")
    return tuple(vals)


def _space(a: str) -> str:
    return a if a.startswith(" ") else " " + a


def _qa_item(path: Path, line: int, row: dict, family: str) -> TaskItem:
    rid = _str(path, line, row, _need(path, line, row, "id"))
    answers = tuple(_space(a) for a in _strs(path, line, row, "answer", "answers"))
    memorized: tuple[str, ...] = ()
    if "memorized_answer" in row or "memorized_answers" in row:
        memorized = tuple(_space(a) for a in _strs(path, line, row, "memorized_answer", "memorized_answers"))
    key = _need(path, line, row, "question", "prompt")
    text = _str(path, line, row, key)
    if key == "prompt":
        return TaskItem(rid, family, text, answers, memorized=memorized, meta={"verbatim": True})
    if family in NEEDS_CONTEXT and "context" not in row:
        raise InputError(f"{path}:{line}: missing field 'context' (needed by {family} rows with a 'question')")
    ctx = f"Context: {_str(path, line, row, 'context')} " if "context" in row else ""
    return TaskItem(rid, family, f"{ctx}Q: {text} A:", answers, memorized=memorized)


def _choice_item(path: Path, line: int, row: dict, family: str) -> TaskItem:
    rid = _str(path, line, row, _need(path, line, row, "id"))
    answer = _space(_str(path, line, row, _need(path, line, row, "answer")))
    if "prompt" in row:
        choices = tuple(_space(c) for c in _strs(path, line, row, "choices", "choices"))
        if answer not in choices:
            raise InputError(f"{path}:{line}: answer {answer.strip()!r} is not one of the choices {list(choices)}")
        return TaskItem(rid, family, _str(path, line, row, "prompt"), (answer,), choices=choices)
    examples = row[_need(path, line, row, "examples", "prompt")]
    if not isinstance(examples, list) or not all(isinstance(e, list | tuple) and len(e) == 2 for e in examples):
        raise InputError(f"{path}:{line}: field 'examples' must be a list of [input, label] pairs")
    query = _str(path, line, row, _need(path, line, row, "query"))
    labels = row.get("labels") or sorted({str(e[1]) for e in examples} | {answer.strip()})
    choices = tuple(_space(str(lab)) for lab in labels)
    if answer not in choices:
        raise InputError(f"{path}:{line}: answer {answer.strip()!r} is not one of the labels {labels}")

    def fmt(x: object) -> str:
        return ", ".join(str(v) for v in x) if isinstance(x, list | tuple) else str(x)

    demos = tuple(f"{fmt(x)} -> {y}" for x, y in examples)
    return TaskItem(rid, family, f"{fmt(query)} ->", (answer,), demos, "Classify:", choices)


# a family's output_type -> how its rows are read
PARSERS: dict[str, Callable[[Path, int, dict, str], TaskItem]] = {
    GENERATE_UNTIL: _qa_item,
    MULTIPLE_CHOICE: _choice_item,
}


def load_user_task(path: str | Path, family: str, shots: int = 3, seed: int = 0) -> list[TaskItem]:
    """Items of ``family`` from a user JSONL file; errors name the file, line and field."""
    path = Path(path)
    output_type = OUTPUT_TYPES[family]
    items = [PARSERS[output_type](path, n, r, family) for n, r in read_jsonl(path)]
    counts = Counter(x.id for x in items)
    dup = sorted(i for i, c in counts.items() if c > 1)
    if dup:
        raise InputError(f"{path}: duplicate id(s) {', '.join(dup[:5])}; ids must be unique")
    if output_type == MULTIPLE_CHOICE or shots <= 0:  # a choice row's demonstrations are its own examples
        return items
    pool = [x for x in items if not x.meta.get("verbatim")]
    where = {x.id: i for i, x in enumerate(pool)}
    out = []
    for x in items:
        if x.id not in where:
            out.append(x)
            continue
        demos = tuple(f"{y.query} {y.answers[0].strip()}" for y in sample_others(pool, where[x.id], shots, seed, x.id))
        out.append(TaskItem(x.id, x.family, x.query, x.answers, demos, memorized=x.memorized))
    return out
