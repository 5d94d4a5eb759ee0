"""The unlearning contract: one typed config, the ``Unlearner`` protocol, one registry, and input checks.

An unlearner edits an already-loaded causal LM in place so that it behaves as if a *forget* set had
not been trained on, while keeping what it knows from a *retain* set (the setting of TOFU, Maini et al.
2024, "TOFU: A Task of Fictitious Unlearning for LLMs", and MUSE, Shi et al. 2024, "MUSE: Machine
Unlearning Six-Way Evaluation for Language Models"). Methods register by name in ``UNLEARNERS``;
``auditor.unlearning.runner.unlearn`` looks them up, checks the sets and runs them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from transformers import PreTrainedModel, PreTrainedTokenizerBase

from auditor.errors import ConfigError, InputError
from auditor.inputs.data import TextSet
from auditor.pruning.targets import DEFAULT_IGNORE, DEFAULT_TARGETS
from auditor.registry import Registry


@dataclass(frozen=True)
class UnlearnConfig:
    """Settings shared by every method; each method reads the fields it needs.

    The defaults were chosen on the shipped standard lab (2.2M-parameter Llama; forget = the first 30 of its
    300 member biographies, retain = the other 270): 5 epochs of batches of 8 at lr 1e-4 (20 AdamW steps,
    2-6 s on one CPU core) bring the forget set's LOSS-attack AUC against the non-members from 1.0 to about
    0.5 for gradient ascent and NPO+RT (0.8 for gradient difference, whose retain term holds it back), with
    fact recall unchanged; gradient ascent and NPO pay for it with the retain and holdout NLL. prune_unlearn
    at 1% per layer raises forget and retain NLL alike there (the lab's forget and retain biographies share
    their features, so the activation ratio cannot single out the forget set); 2% collapses the model.
    Larger models want a smaller lr (TOFU uses 1e-5 at 7B).
    """

    lr: float = 1e-4  # AdamW learning rate (gradient methods)
    epochs: int = 5  # passes over the forget set (gradient methods); ignored when ``steps`` is set
    steps: int | None = None  # exact number of optimizer steps (cycling over the forget set); overrides epochs
    batch_size: int = 8  # forget texts per step (and as many retain texts, for methods that use them)
    max_len: int = 256  # texts are truncated to this many tokens
    seed: int = 0  # batch order and any randomness in the forward pass (dropout)
    weight_decay: float = 0.0  # AdamW weight decay
    max_grad_norm: float = 1.0  # gradient clipping (L2 norm over all parameters); 0 turns it off
    beta: float = 0.1  # NPO inverse temperature (Zhang et al. 2024 use 0.1)
    retain_weight: float = 1.0  # weight of the retain NLL term (gradient_difference; npo when a retain set is given)
    upcast: bool = True  # train a bf16/fp16 model in float32 and cast it back (Adam's small updates vanish in bf16)
    prune_fraction: float = 0.01  # prune_unlearn: share of each targeted layer's weights zeroed
    prune_granularity: str = "layer"  # prune_unlearn: rank weights within each "layer" or each output "row"
    prune_eps: float = 1e-6  # prune_unlearn: added to the retain activation norm in the ratio's denominator
    prune_max_texts: int = 512  # prune_unlearn: at most this many texts of each set are run for activations
    targets: tuple[str, ...] = DEFAULT_TARGETS  # prune_unlearn: regexes of the layers it may prune
    ignore: tuple[str, ...] = DEFAULT_IGNORE  # prune_unlearn: regexes of layers it never prunes

    def __post_init__(self) -> None:
        checks = [
            (self.lr > 0, f"lr must be > 0, got {self.lr}"),
            (self.epochs >= 1, f"epochs must be >= 1, got {self.epochs}"),
            (self.steps is None or self.steps >= 1, f"steps must be >= 1 (or null for epochs), got {self.steps}"),
            (self.batch_size >= 1, f"batch_size must be >= 1, got {self.batch_size}"),
            (self.max_len >= 2, f"max_len must be >= 2 tokens, got {self.max_len}"),
            (self.beta > 0, f"beta must be > 0, got {self.beta}"),
            (self.retain_weight >= 0, f"retain_weight must be >= 0, got {self.retain_weight}"),
            (self.max_grad_norm >= 0, f"max_grad_norm must be >= 0 (0: no clipping), got {self.max_grad_norm}"),
            (0 < self.prune_fraction < 1, f"prune_fraction must be in (0, 1), e.g. 0.01; got {self.prune_fraction}"),
            (
                self.prune_granularity in ("layer", "row"),
                f"prune_granularity must be 'layer' or 'row', got {self.prune_granularity!r}",
            ),
            (self.prune_max_texts >= 1, f"prune_max_texts must be >= 1, got {self.prune_max_texts}"),
        ]
        for ok, msg in checks:
            if not ok:
                raise ConfigError(msg)


class StepObserver(Protocol):
    """Watches an iterative method's training (per-example difficulty: :mod:`auditor.unlearning.difficulty_tracker`).

    ``start`` once before the first step; ``observe`` at step 0 and after every step ``due`` says; it must
    leave the weights, the RNG state and the training mode as it found them. ``seconds``: time spent observing
    (left out of the method's own ``seconds``)."""

    seconds: float

    def start(
        self, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, forget: TextSet, steps: int
    ) -> None: ...

    def due(self, step: int) -> bool: ...

    def observe(self, model: PreTrainedModel, step: int) -> None: ...

    def trajectory(self) -> dict: ...


class Unlearner(Protocol):
    """A method: edits ``model`` in place; returns JSON-serializable figures (steps, seconds, losses).

    ``iterative`` methods take optimizer steps and accept an ``observer`` (a :class:`StepObserver`); a
    one-shot method (``iterative = False``) has no steps to observe and is never given one."""

    name: str
    needs_retain: bool  # True: the method cannot run without a retain set
    iterative: bool  # True: optimizer steps, observable by a StepObserver

    def run(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        forget: TextSet,
        retain: TextSet | None,
        config: UnlearnConfig,
    ) -> dict: ...


UNLEARNERS: Registry[type[Unlearner]] = Registry("unlearning method")


def _shown(items: list[str], limit: int = 20) -> str:
    return ", ".join(items[:limit]) + (f" ... ({len(items)} in all)" if len(items) > limit else "")


def check_sets(forget: TextSet, retain: TextSet | None, method: str, needs_retain: bool) -> None:
    """Raise an InputError for an empty forget set, a missing retain set, or forget/retain overlap.

    Overlap is checked by id and by identical text; the message lists the offending ids.
    """
    if len(forget) == 0:
        raise InputError(f"the forget set {forget.source or ''} is empty; give at least one text to forget".strip())
    if retain is None or len(retain) == 0:
        if needs_retain:
            raise InputError(
                f"method {method!r} needs a retain set (texts whose knowledge must be kept); give --retain FILE"
            )
        return
    same_id = sorted(set(forget.ids) & set(retain.ids))
    retain_by_text: dict[str, list[str]] = {}
    for i, t in zip(retain.ids, retain.texts, strict=True):
        retain_by_text.setdefault(t, []).append(i)
    same_text = [
        f"{fid} = retain {'/'.join(retain_by_text[t])}"
        for fid, t in zip(forget.ids, forget.texts, strict=True)
        if t in retain_by_text
    ]
    if same_id or same_text:
        parts = []
        if same_id:
            parts.append(f"same id: {_shown(same_id)}")
        if same_text:
            parts.append(f"same text: {_shown(same_text)}")
        raise InputError(
            f"forget and retain sets overlap ({'; '.join(parts)}); remove these texts from one of the two sets"
        )
