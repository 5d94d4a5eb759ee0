"""``auditor info``: what a loaded checkpoint is, and what pruning would touch in it."""

from __future__ import annotations

import json

from auditor.models.load import LoadedModel
from auditor.pruning.targets import find_targets

_CONFIG_KEYS = (
    "model_type",
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "vocab_size",
    "max_position_embeddings",
    "n_embd",
    "n_layer",
    "n_head",
)


def model_info(loaded: LoadedModel) -> dict:
    """Architecture, parameter count, dtype and the prunable Linear layers found by pattern."""
    m = loaded.model
    targets = find_targets(m)
    info = loaded.describe()
    info.update(
        {
            "parameters": sum(p.numel() for p in m.parameters()),
            "config": {k: v for k, v in m.config.to_dict().items() if k in _CONFIG_KEYS},
            "prunable_layers": len(targets),
            "prunable_parameters": sum(t.weight.numel() for t in targets.values()),
            "prunable_examples": list(targets)[:8],
        }
    )
    json.dumps(info)  # must be serializable
    return info
