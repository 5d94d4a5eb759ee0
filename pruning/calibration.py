"""Calibration inputs for activation-aware pruning: token rows, and per-layer input statistics via hooks."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from auditor.errors import InputError


def calibration_rows(tokenizer, texts: list[str], n_samples: int, seq_len: int) -> list[list[int]]:
    """``n_samples`` rows of exactly ``seq_len`` tokens, cut from the texts joined by EOS."""
    if not texts:
        raise InputError("no calibration texts; give a data file with texts")
    sep = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    stream: list[int] = []
    for ids in tokenizer(list(texts), add_special_tokens=False)["input_ids"]:
        stream.extend(ids + sep)
        if len(stream) >= n_samples * seq_len:
            break
    rows = [stream[i : i + seq_len] for i in range(0, len(stream) - seq_len + 1, seq_len)][:n_samples]
    if not rows:
        raise InputError(
            f"calibration texts hold {len(stream)} tokens, fewer than seq_len={seq_len}; "
            "give more or longer texts, or lower seq_len"
        )
    return rows


@torch.no_grad()
def collect_inputs(
    model: nn.Module,
    modules: dict[str, nn.Module],
    rows: list[list[int]],
    update: Callable[[str, torch.Tensor], None],
    batch_size: int = 8,
) -> None:
    """Run the rows through ``model`` and call ``update(name, X)`` with each target layer's input
    (flattened to (tokens, in_features), float32)."""
    device = next(model.parameters()).device
    handles = []
    for name, m in modules.items():

        def hook(_m, args, name=name):
            x = args[0]
            update(name, x.reshape(-1, x.shape[-1]).float())

        handles.append(m.register_forward_pre_hook(hook))
    try:
        for i in range(0, len(rows), batch_size):
            model(input_ids=torch.tensor(rows[i : i + batch_size], device=device))
    finally:
        for h in handles:
            h.remove()
