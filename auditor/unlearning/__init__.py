"""Built-in unlearning methods (one registry, ``UNLEARNERS``) and the runner that applies them.

Methods: ``gradient_ascent`` (Jang et al. 2023), ``gradient_difference`` (Liu et al. 2022; TOFU),
``npo`` (Zhang et al. 2024; NPO+RT with a retain set), ``prune_unlearn`` (selective Wanda-ratio pruning).
"""

from __future__ import annotations

from auditor.unlearning import gradient_ascent, gradient_difference, npo, prune_unlearn  # noqa: F401  (registers)
from auditor.unlearning.base import UNLEARNERS, UnlearnConfig, Unlearner, check_sets
from auditor.unlearning.runner import unlearn, unlearn_checkpoint

__all__ = ["UNLEARNERS", "UnlearnConfig", "Unlearner", "check_sets", "unlearn", "unlearn_checkpoint"]
