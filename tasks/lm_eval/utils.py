"""Metric hook for the memaudit generation tasks: the same normalized match as the native evaluator.

lm-eval calls ``process_results(doc, results)`` with the generation (already cut at the first newline);
a generation is correct when its normalized first line equals or starts with (at a word boundary) a
normalized answer (``auditor.capability.normalize.answer_match``).
"""

from __future__ import annotations

from auditor.capability.normalize import answer_match


def process_results(doc: dict, results: list[str]) -> dict[str, float]:
    return {"accuracy": float(answer_match(results[0], doc["answers"]))}
