"""Discoverable-extraction decoding throughput: our batched cached greedy loop against ``generate()``, in one run.

Variants, each greedy-decoding ``--suffix-len`` tokens after the first ``--prefix-len`` tokens (BOS not
counted) of ``--texts`` lab member texts:

* ``generate, one at a time``: ``model.generate(do_sample=False, eos_token_id=None)`` per text (the
  reference, and what extraction scripts commonly do);
* ``generate, batched``: ``model.generate`` on left-padded batches of ``--batch``;
* ``ours``: ``auditor.lm.decoding.decode`` (left-padded batches, KV cache, positions from
  the mask, only the last position's logits).

The token ids of every variant are compared with the reference (``ours`` must match exactly; the run
fails otherwise). It also times the exposure scorer on one lab canary (10^4 candidates).

    OMP_NUM_THREADS=1 python benches/bench_extraction.py --model lab --texts 128 --threads 1
    OMP_NUM_THREADS=1 python benches/bench_extraction.py --model smollm2-135m --texts 32 --threads 1 --no-exposure
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import TypeVar

import torch

T = TypeVar("T")


def prompts_for(tok, n: int, prefix_len: int, suffix_len: int) -> list[list[int]]:
    from auditor.lab.build import SHIPPED_DIR, load_lab_files
    from auditor.probes.extraction.items import token_items

    texts = [x["text"] for x in load_lab_files(SHIPPED_DIR)["members"]]
    items, _ = token_items(tok, [str(i) for i in range(len(texts))], texts, prefix_len, suffix_len)
    if len(items) < n:
        raise SystemExit(f"only {len(items)} lab texts have {prefix_len + suffix_len} tokens; lower the lengths")
    return [list(it.prefix) for it in items[:n]]


@torch.no_grad()
def generate_batched(model, prompts: list[list[int]], m: int, pad_id: int, batch: int) -> list[list[int]]:
    from auditor.lm.decoding import input_device, left_pad

    out = []
    for s in range(0, len(prompts), batch):
        ids, mask = left_pad(prompts[s : s + batch], pad_id, input_device(model))
        y = model.generate(
            ids, attention_mask=mask, do_sample=False, max_new_tokens=m, eos_token_id=None, pad_token_id=pad_id
        )
        out.extend(y[:, ids.shape[1] :].tolist())
    return out


def timed(fn: Callable[[], T]) -> tuple[T, float]:
    t0 = time.perf_counter()
    res = fn()
    return res, time.perf_counter() - t0


def main() -> None:
    from auditor.lm.decoding import decode, generate_one_by_one
    from auditor.models import ModelSpec, load_model

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", default="lab")
    ap.add_argument("--texts", type=int, default=128)
    ap.add_argument("--prefix-len", type=int, default=16)
    ap.add_argument("--suffix-len", type=int, default=16)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--no-exposure", action="store_true", help="skip timing the exposure scorer")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    lm = load_model(ModelSpec(a.model, device="cpu"))
    model, tok = lm.model, lm.tokenizer
    prompts = prompts_for(tok, a.texts, a.prefix_len, a.suffix_len)
    m, pad = a.suffix_len, tok.pad_token_id
    decode(model, prompts[:2], 2, pad_id=pad)  # warm-up
    ref, t_ref = timed(lambda: generate_one_by_one(model, prompts, m))
    gen_b, t_gen_b = timed(lambda: generate_batched(model, prompts, m, pad, a.batch))
    ours, t_ours = timed(lambda: decode(model, prompts, m, pad_id=pad, batch_size=a.batch).tokens)
    assert ours == ref, "batched cached decoding differs from per-sample generate()"
    print(
        f"model={a.model} texts={a.texts} prefix_len={a.prefix_len} suffix_len={m} batch={a.batch} "
        f"threads={a.threads} torch={torch.__version__}"
    )
    print(f"{'variant':<26} {'seconds':>8} {'texts/s':>8} {'tokens/s':>9} {'vs one-at-a-time':>16} {'same ids':>9}")
    for name, res, t in (
        ("generate, one at a time", ref, t_ref),
        ("generate, batched", gen_b, t_gen_b),
        ("ours (decode)", ours, t_ours),
    ):
        same = sum(x == y for x, y in zip(res, ref, strict=True))
        print(
            f"{name:<26} {t:8.2f} {len(prompts) / t:8.1f} {len(prompts) * m / t:9.0f} {t_ref / t:15.2f}x "
            f"{same:>4}/{len(ref)}"
        )
    if not a.no_exposure:
        import itertools
        import json

        from auditor.lab.build import SHIPPED_DIR
        from auditor.probes.extraction.candidates import candidate_logliks

        canary = json.loads((SHIPPED_DIR / "canaries.jsonl").read_text().splitlines()[-1])
        cands = [" " + "".join(d) for d in itertools.product("0123456789", repeat=4)]
        ids = tok(cands, add_special_tokens=False)["input_ids"]
        prefix = tok(canary["prefix"])["input_ids"]
        _, t_exp = timed(lambda: candidate_logliks(model, prefix, ids, pad))
        print(f"exposure: 10^4 candidates of one canary scored in {t_exp:.2f} s")


if __name__ == "__main__":
    main()
