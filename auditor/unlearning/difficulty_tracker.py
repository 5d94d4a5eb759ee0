"""The step observer of the gradient unlearners: each forget example's extractability and loss during training.

Baluta et al. 2024 and Sepahvand et al. 2025 (see :mod:`auditor.unlearning.difficulty`) measure per-example
unlearning difficulty as the amount of unlearning an example needs. :class:`DifficultyTracker` is handed to
:meth:`auditor.unlearning.trainer.GradientUnlearner.run`, which calls it at step 0 (the model before
unlearning) and after every ``every`` optimizer steps (and after the last). At each call it measures, per
forget example:

* extractable: greedy decoding of the suffix after the prefix reproduces the suffix exactly, with VerbMem's
  token split (:func:`auditor.probes.extraction.items.token_items`: BOS + the first ``prefix_len`` text
  tokens, then the next ``suffix_len``). It is checked in ONE teacher-forced pass (argmax at every suffix
  position equals the suffix token), which is exact for greedy decoding: the reasoning of
  :func:`auditor.lm.scoring.greedy_answer_match`, applied to token ids so the split is VerbMem's exactly
  (re-tokenizing decoded strings would not always give the same tokens);
* its mean per-token loss (:func:`auditor.lm.scoring.mean_nll`, the LOSS attack's statistic).

The training trajectory is left as it was: the model is measured in eval mode under ``no_grad`` and put
back in the mode it was in, the RNG states (CPU and CUDA) are restored, and no weight, gradient or
optimizer state is touched, so the unlearned weights are the same with and without tracking (tested).
Unlearning runs on the main process only under data parallelism, so the passes here run locally.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

import auditor.store.parallel as parallel
from auditor.inputs.data import TextSet
from auditor.lm.forward import teacher_forced
from auditor.lm.scoring import mean_nll
from auditor.probes.extraction.items import token_items
from auditor.unlearning.difficulty import DifficultySettings, measured_steps


@contextmanager
def _measuring(model: PreTrainedModel) -> Iterator[None]:
    """Eval mode and no_grad for the block; then the model's mode and every RNG state as they were."""
    was_training = model.training
    cuda = torch.cuda.is_available() and torch.cuda.is_initialized()
    cpu_state = torch.get_rng_state()
    cuda_state = torch.cuda.get_rng_state_all() if cuda else None
    model.eval()
    try:
        # the other processes of a data-parallel run wait at a barrier while the main one unlearns
        with torch.no_grad(), parallel.run_locally():
            yield
    finally:
        model.train(was_training)
        torch.set_rng_state(cpu_state)
        if cuda_state is not None:
            torch.cuda.set_rng_state_all(cuda_state)


class DifficultyTracker:
    """Records each forget example's trajectory (extractable, loss) at the measured steps of one run."""

    def __init__(self, settings: DifficultySettings) -> None:
        self.settings = settings
        self.ids: list[str] = []
        self.steps: list[int] = []
        self._due: set[int] = set()
        self._texts: list[str] = []
        self._seqs: list[list[int]] = []  # prefix + suffix token ids of the texts long enough to split
        self._first: list[int] = []  # where each suffix starts
        self._split: list[int] = []  # index of each split text in ids
        self._ext: list[list[bool] | None] = []
        self._loss: list[list[float]] = []
        self._tokenizer: PreTrainedTokenizerBase | None = None
        self.seconds = 0.0  # time spent measuring

    def start(self, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, forget: TextSet, steps: int) -> None:
        """Tokenize the forget set (VerbMem's split) and fix the measured steps of a run of ``steps`` steps."""
        s = self.settings
        items, _ = token_items(tokenizer, forget.ids, forget.texts, s.prefix_len, s.suffix_len)
        where = {i: n for n, i in enumerate(forget.ids)}
        self.ids, self._texts, self._tokenizer = list(forget.ids), list(forget.texts), tokenizer
        self._seqs = [list(it.prefix) + list(it.target) for it in items]
        self._first = [len(it.prefix) for it in items]
        self._split = [where[it.id] for it in items]
        split = set(self._split)
        self._ext = [[] if n in split else None for n in range(len(self.ids))]
        self._loss = [[] for _ in self.ids]
        self.steps, self._due, self.seconds = [], set(measured_steps(steps, s.every)), 0.0

    def due(self, step: int) -> bool:
        """Whether ``step`` (optimizer steps taken so far) is a measured step."""
        return step in self._due

    def observe(self, model: PreTrainedModel, step: int) -> None:
        """Measure every forget example now (``step`` optimizer steps taken)."""
        if self._tokenizer is None:
            raise RuntimeError("DifficultyTracker.start() must be called before observe()")
        tok, bs = self._tokenizer, self.settings.batch_size
        t0 = time.perf_counter()
        with _measuring(model):
            losses = mean_nll(model, tok, self._texts, bs)
            pred = (
                teacher_forced(model, self._seqs, self._first, pad_id=tok.pad_token_id, reduce="argmax", batch_size=bs)
                if self._seqs
                else []
            )
        for n, loss in enumerate(losses):
            self._loss[n].append(float(loss))
        for n, seq, first, (p,) in zip(self._split, self._seqs, self._first, pred, strict=True):
            self._ext[n].append(bool(torch.equal(p, torch.tensor(seq[first:], dtype=torch.long))))  # type: ignore[union-attr]
        self.steps.append(int(step))
        self.seconds += time.perf_counter() - t0

    def trajectory(self) -> dict:
        """JSON-ready: measured ``steps``, ``ids``, per example ``extractable`` flags (null: too short to split)
        and ``loss`` per measured step, the settings, and the ``seconds`` spent measuring."""
        s = self.settings
        return {
            "every": s.every,
            "prefix_len": s.prefix_len,
            "suffix_len": s.suffix_len,
            "steps": self.steps,
            "max_step": self.steps[-1] if self.steps else 0,
            "seconds": round(self.seconds, 2),
            "ids": self.ids,
            "extractable": self._ext,
            "loss": self._loss,
        }
