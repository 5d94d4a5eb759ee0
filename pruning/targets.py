"""Find the prunable weight layers of any causal LM by module type and name pattern.

No architecture-specific attribute paths (``model.model.layers``): every ``nn.Linear`` and
GPT-2-style ``Conv1D`` whose qualified name matches a target pattern and no ignore pattern is a
target. Embeddings and ``lm_head`` are ignored by default.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from torch import nn

DEFAULT_TARGETS: tuple[str, ...] = (".*",)
DEFAULT_IGNORE: tuple[str, ...] = (r"(^|.*\.)lm_head$", r".*embed.*", r"(^|.*\.)wte$", r"(^|.*\.)wpe$")


def _is_weight_layer(module: nn.Module) -> bool:
    if isinstance(module, nn.Linear):
        return True
    # transformers' Conv1D (GPT-2 family): a Linear with a transposed (in, out) weight.
    return type(module).__name__ == "Conv1D" and hasattr(module, "weight") and hasattr(module, "nf")


def find_targets(
    model: nn.Module, targets: Sequence[str] = DEFAULT_TARGETS, ignore: Sequence[str] = DEFAULT_IGNORE
) -> dict[str, nn.Module]:
    """Qualified name -> module for every Linear/Conv1D matching ``targets`` and not ``ignore``.

    Patterns are regular expressions matched against the full qualified module name.
    """
    tgt = [re.compile(p) for p in targets]
    ign = [re.compile(p) for p in ignore]
    out: dict[str, nn.Module] = {}
    for name, module in model.named_modules():
        if not name or not _is_weight_layer(module):
            continue
        if any(p.fullmatch(name) for p in ign) or not any(p.fullmatch(name) for p in tgt):
            continue
        out[name] = module
    return out
