"""The native, batched capability evaluator: greedy generation with normalized match, and log-likelihood choice.

A task is scored as its ``output_type`` declares (:data:`SCORERS`). ``generate_until`` (``fact_recall``,
``open_book``, ``overriding``): prompts are left-padded in length-sorted batches and decoded greedily with
the KV cache (``model.generate``) for at most ``max_new_tokens`` tokens or until every row has produced a
newline; the first line is compared with :func:`auditor.capability.normalize.answer_match`.
``multiple_choice`` (``icl_classification``): the choice with the highest
summed log-probability of its tokens after the prompt (context and continuation split as lm-eval's
``_encode_pair`` does: encode the whole string, the continuation is what follows the prompt's tokens),
at k shots and at 0 shots (the baseline; Jin et al. 2024 compare ICL against it); also a calibrated choice
(k-shot minus 0-shot log-likelihood per label) that removes a model's fixed preference for one label.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase, StoppingCriteria, StoppingCriteriaList

import auditor.store.progress as progress
from auditor.capability.normalize import answer_match, first_line
from auditor.capability.schema import GENERATE_UNTIL, MULTIPLE_CHOICE, Task, TaskItem, fit_to_context
from auditor.lm.batching import input_device, length_order, pad_batch, resolve_batch_size, run_batches
from auditor.lm.scoring import continuation_logprobs
from auditor.stats.intervals import proportion_ci
from auditor.store.parallel import shard_map

log = logging.getLogger(__name__)


@dataclass
class TaskResult:
    """Accuracy of one task with its Wilson 95% CI, per-item rows and family-specific extras."""

    task: str
    family: str
    n: int
    correct: int
    extras: dict = field(default_factory=dict)  # accuracy_0shot, memorized_rate, shots, ...
    items: list[dict] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        return self.correct / self.n if self.n else 0.0

    @property
    def ci(self) -> tuple[float, float]:
        """The Wilson (1927) score interval of ``correct`` of ``n``: positive width at every n >= 1."""
        return proportion_ci(self.correct, self.n)


_NEWLINE_IDS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # tokenizer -> ids (dies with it)


def newline_ids(tokenizer: PreTrainedTokenizerBase) -> torch.Tensor:
    """Ids of the tokens whose text contains a newline (decoded once per tokenizer and cached). A newline is
    one byte, so in byte-level BPE and byte-fallback vocabularies it lies inside a single token."""
    if tokenizer not in _NEWLINE_IDS:
        texts = tokenizer.batch_decode([[i] for i in range(len(tokenizer))], skip_special_tokens=False)
        _NEWLINE_IDS[tokenizer] = torch.tensor([i for i, t in enumerate(texts) if "\n" in t], dtype=torch.long)
    return _NEWLINE_IDS[tokenizer]


class _NewlineStop(StoppingCriteria):
    """Stops a row once it has generated a newline: the newest token is looked up in the newline ids on
    the model's device, with no decoding of the rows at each step (no host round trip per token)."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase, start: int) -> None:
        self.ids, self.start = newline_ids(tokenizer), start
        self.seen: torch.Tensor | None = None

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor, **kwargs) -> torch.Tensor:
        if self.ids.device != input_ids.device:
            self.ids = self.ids.to(input_ids.device)
        hit = torch.isin(input_ids[:, -1], self.ids)
        self.seen = hit if self.seen is None else self.seen | hit
        return self.seen


def context_budget(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, reserve: int) -> int:
    """Prompt tokens that fit: the model's positions (or the tokenizer's limit, if smaller) minus ``reserve``."""
    limit = getattr(model.config, "max_position_embeddings", None) or 2048
    tok_limit = getattr(tokenizer, "model_max_length", None)
    if isinstance(tok_limit, int) and 0 < tok_limit < limit:
        limit = tok_limit
    return limit - reserve


@torch.no_grad()
def greedy_generate(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: list[str],
    max_new_tokens: int = 16,
    batch_size: int | None = 16,
) -> list[str]:
    """Greedy continuation of each prompt (decoded, special tokens dropped), batched with left padding.

    Batches follow ``auditor.lm.batching`` (length-sorted, on the input device; ``None`` = auto, and any
    size is halved on out-of-memory). Under data parallelism each process decodes a share of the prompts.
    """
    return shard_map(prompts, lambda part: _greedy_local(model, tokenizer, part, max_new_tokens, batch_size))


def _greedy_local(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: list[str],
    max_new_tokens: int,
    batch_size: int | None,
) -> list[str]:
    if not prompts:
        return []
    enc = tokenizer(prompts, add_special_tokens=True)["input_ids"]
    out = [""] * len(prompts)
    pad = tokenizer.pad_token_id

    def step(idx: list[int]) -> None:
        ids, mask = pad_batch([enc[i] for i in idx], pad, input_device(model), side="left")
        width = ids.shape[1]
        gen = model.generate(
            input_ids=ids,
            attention_mask=mask,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            pad_token_id=pad,
            stopping_criteria=StoppingCriteriaList([_NewlineStop(tokenizer, width)]),
            use_cache=True,
        )
        for row, i in enumerate(idx):
            out[i] = tokenizer.decode(gen[row, width:].tolist(), skip_special_tokens=True)

    bs = resolve_batch_size(batch_size, model, "decoding")
    with progress.bar(len(prompts), "capability generation", unit="prompt", logger=log) as p:

        def counted(idx: list[int]) -> None:
            step(idx)
            p.update(len(idx))  # once per batch

        run_batches(length_order([len(e) for e in enc]), counted, bs, what="capability generation")
    return out


def choice_logliks(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: list[str],
    choices: list[tuple[str, ...]],
    batch_size: int | None = 16,
) -> list[list[float]]:
    """Summed log-prob of each choice's tokens after its prompt (only the choice's positions are scored)."""
    seqs, spans = [], []
    for p, cs in zip(prompts, choices, strict=True):
        n_ctx = len(tokenizer(p, add_special_tokens=True)["input_ids"])
        for c in cs:
            whole = tokenizer(p + c, add_special_tokens=True)["input_ids"]
            seqs.append(whole)
            spans.append(max(0, len(whole) - n_ctx))
    flat = continuation_logprobs(model, seqs, spans, tokenizer.pad_token_id, batch_size)
    out, at = [], 0
    for cs in choices:
        out.append(flat[at : at + len(cs)])
        at += len(cs)
    return out


Scored = tuple[list[bool], list[dict], dict]  # per-item hits, per-item rows, extras


def _argmax(xs: list[float]) -> int:
    return max(range(len(xs)), key=lambda i: (xs[i], -i))  # first maximum, as numpy's argmax


def _score_choices(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    items: tuple[TaskItem, ...],
    max_new_tokens: int,
    batch_size: int | None,
) -> Scored:
    """``multiple_choice``: the choice with the highest log-likelihood, at k shots and at 0 shots (Jin et al.
    2024's baseline), and calibrated (k-shot minus 0-shot per label)."""
    choices = [x.choices for x in items]
    ll = choice_logliks(model, tokenizer, [x.prompt() for x in items], choices, batch_size)
    ll0 = choice_logliks(model, tokenizer, [x.prompt(0) for x in items], choices, batch_size)
    hits = [_argmax(a) == x.gold for a, x in zip(ll, items, strict=True)]
    hits0 = [_argmax(a) == x.gold for a, x in zip(ll0, items, strict=True)]
    # calibrated: k-shot log-likelihood minus the 0-shot one per label (the 0-shot prompt as the reference
    # input of Zhao et al. 2021's contextual calibration), which removes a fixed label bias
    cal = [[a - b for a, b in zip(k, z, strict=True)] for k, z in zip(ll, ll0, strict=True)]
    hits_cal = [_argmax(c) == x.gold for c, x in zip(cal, items, strict=True)]
    extras = {
        "accuracy_calibrated": sum(hits_cal) / len(items),
        "correct_calibrated": sum(hits_cal),
        "correct_0shot": sum(hits0),
        "accuracy_0shot": sum(hits0) / len(items),
        "gain_over_0shot": (sum(hits) - sum(hits0)) / len(items),
    }
    rows = [
        {"id": x.id, "prediction": x.choices[_argmax(a)], "correct": h, "correct_0shot": h0}
        for x, a, h, h0 in zip(items, ll, hits, hits0, strict=True)
    ]
    return hits, rows, extras


def _score_generation(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    items: tuple[TaskItem, ...],
    max_new_tokens: int,
    batch_size: int | None,
) -> Scored:
    """``generate_until``: greedy generation to the first newline, normalized match against the answers (and
    against the memorized answers, for overriding QA)."""
    gens = greedy_generate(model, tokenizer, [x.prompt() for x in items], max_new_tokens, batch_size)
    hits = [answer_match(g, x.answers) for g, x in zip(gens, items, strict=True)]
    rows, extras = [], {}
    for x, g, h in zip(items, gens, hits, strict=True):
        row = {"id": x.id, "prediction": first_line(g), "correct": h}
        if x.memorized:
            row["memorized"] = answer_match(g, x.memorized)
        rows.append(row)
    if any(x.memorized for x in items):
        extras["memorized_rate"] = sum(r.get("memorized", False) for r in rows) / len(rows)
    return hits, rows, extras


# a task's output_type -> how it is scored
SCORERS: dict[str, Callable[..., Scored]] = {
    GENERATE_UNTIL: _score_generation,
    MULTIPLE_CHOICE: _score_choices,
}


def evaluate_task(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    task: Task,
    max_new_tokens: int = 16,
    batch_size: int | None = 16,
) -> TaskResult:
    """Accuracy of ``model`` on ``task``, scored as its ``output_type`` says (k-shot reduced where the context
    is too short; see extras)."""
    task, fit = fit_to_context(task, tokenizer, context_budget(model, tokenizer, max_new_tokens))
    extras: dict = {"shots": fit["requested_shots"], "shots_min": fit["min_shots"], "shots_reduced": fit["reduced"]}
    score = SCORERS[task.output_type]
    hits, rows, more = score(model, tokenizer, task.items, max_new_tokens, batch_size)
    return TaskResult(task.name, task.family, len(task.items), sum(hits), extras | more, rows)
