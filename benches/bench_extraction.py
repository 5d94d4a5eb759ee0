"""Discoverable-extraction decoding throughput: our batched cached greedy loop against ``generate()``, in one run.

Variants, each greedy-decoding ``--suffix-len`` tokens after the first ``--prefix-len`` tokens (BOS not
counted) of ``--texts`` lab member texts:

* ``generate, one at a time``: ``model.generate(do_sample=False, eos_token_id=None)`` per text (the
  reference, and what extraction scripts commonly do);
* ``generate, batched``: ``model.generate`` on left-padded batches of ``--batch``;
* ``ours``: ``auditor.lm.decoding.decode`` (left-padded batches, KV cache, positions from
  the mask, only the last position's logits).

``in forward`` is the share of each variant's time spent inside the model's own forward calls: the rest
is the loop's overhead, and at equal batch the most a faster loop can gain over ``generate`` is that
overhead (a 95% share caps the speed-up at 1/0.95 = 1.05x). With ``--reps R`` the variants run R times in
alternating order; min and median seconds are printed.

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


class ForwardClock:
    """Seconds spent inside the model's own forward (every decoding step's matmuls, attention and cache
    update): what is left of a variant's time is its loop's overhead, the only part a decoder can remove."""

    def __init__(self, model) -> None:
        self.seconds = 0.0
        inner = model.forward

        def timed_forward(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - t0

        model.forward = timed_forward


def main() -> None:
    import statistics

    from auditor.lm.decoding import decode, generate_one_by_one
    from auditor.models.load import ModelSpec, load_model

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", default="lab")
    ap.add_argument("--texts", type=int, default=128)
    ap.add_argument("--prefix-len", type=int, default=16)
    ap.add_argument("--suffix-len", type=int, default=16)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--reps", type=int, default=3, help="repetitions (the order of the variants alternates)")
    ap.add_argument("--no-exposure", action="store_true", help="skip timing the exposure scorer")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    lm = load_model(ModelSpec(a.model, device="cpu"))
    model, tok = lm.model, lm.tokenizer
    prompts = prompts_for(tok, a.texts, a.prefix_len, a.suffix_len)
    m, pad = a.suffix_len, tok.pad_token_id
    decode(model, prompts[:2], 2, pad_id=pad)  # warm-up
    clock = ForwardClock(model)
    variants = {
        "generate, one at a time": lambda: generate_one_by_one(model, prompts, m),
        "generate, batched": lambda: generate_batched(model, prompts, m, pad, a.batch),
        "ours (decode)": lambda: decode(model, prompts, m, pad_id=pad, batch_size=a.batch).tokens,
    }
    secs: dict[str, list[float]] = {v: [] for v in variants}
    fwd: dict[str, list[float]] = {v: [] for v in variants}
    outs: dict[str, list] = {}
    names = list(variants)
    for rep in range(a.reps):
        for name in names if rep % 2 == 0 else names[::-1]:  # sides alternate between repetitions
            clock.seconds = 0.0
            outs[name], t = timed(variants[name])
            secs[name].append(t)
            fwd[name].append(clock.seconds)
    ref = outs["generate, one at a time"]
    assert outs["ours (decode)"] == ref, "batched cached decoding differs from per-sample generate()"
    print(
        f"model={a.model} texts={a.texts} prefix_len={a.prefix_len} suffix_len={m} batch={a.batch} "
        f"threads={a.threads} reps={a.reps} torch={torch.__version__}"
    )
    base = statistics.median(secs["generate, batched"])
    print(f"{'variant':<24} {'s min':>7} {'s med':>7} {'tok/s med':>9} {'vs generate@batch':>17} "
          f"{'in forward':>10} {'same ids':>9}")  # fmt: skip
    for name in names:
        med = statistics.median(secs[name])
        share = statistics.median(f / s for f, s in zip(fwd[name], secs[name], strict=True))
        same = sum(x == y for x, y in zip(outs[name], ref, strict=True))
        print(f"{name:<24} {min(secs[name]):7.2f} {med:7.2f} {len(prompts) * m / med:9.0f} {base / med:16.2f}x "
              f"{100 * share:9.1f}% {same:>4}/{len(ref)}")  # fmt: skip
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
