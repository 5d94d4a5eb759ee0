"""MIA scoring throughput: our batched one-pass engine against the loops peers use, in one run.

Variants, all computing every attack that needs only the target's pass (loss, zlib, Min-K%, Min-K%++):

* ``ours``: ``auditor.lm.tokenstats.compute_token_stats`` (length-sorted batches, chunked float32
  log-softmax on the device) and the attack functions;
* ``batch-1 loop``: one forward pass per text through our own statistics, every attack from it;
* ``min-k++ repo loop``: a transcription of the scoring loop of the Min-K%++ repository
  (zjysteven/mink-plus-plus ``run.py``): ``model(ids, labels=ids)`` per text, full softmax and
  log-softmax over the vocabulary, and its k grids of 10 ratios for Min-K% and Min-K%++;
* ``pass per attack``: one forward pass per text per attack (open-unlearning's way).

It also measures this machine's float32 matmul GFLOP/s, and reports each variant's share of the
matmul bound (2 x non-embedding-parameters FLOP per token, plus the LM head), and the peak RSS of
each variant, measured in a fresh subprocess.

    python benches/bench_mia.py --model lab --texts 400
    python benches/bench_mia.py --model smollm2-135m --texts 48 --tokens 128 --reps 3

``--end-to-end`` compares whole runs instead, half the texts as members and half as non-members:

* ``run_mia (ours)``: ``auditor.api.mia`` with loss, zlib and the full Min-K% and Min-K%++ k grids (16
  scores), each with its AUC and TPR at 1% and 0.1% FPR and their 1,000-resample bootstrap CIs, the
  scores, records and ``mia.json`` written to a temporary run folder (a library call draws no figure, as
  run.py draws none; ``auditor mia`` draws the ROC);
* ``repo run.py``: the repository's whole ``run.py`` after loading: the scoring loop above, then its
  ``get_metrics`` per score (scikit-learn ``roc_curve`` + ``auc``, FPR@95% TPR, TPR@5% FPR; 22 scores,
  no CIs) and its results DataFrame.

    python benches/bench_mia.py --model lab --texts 400 --end-to-end --reps 3

With ``--reps R`` every variant runs R times, in an order that alternates between repetitions, and the
table shows the min and median of its throughput. The LOSS scores of ours and the repository's loop are
compared (they must agree within 1e-4) so the two sides are known to compute the same thing.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
import zlib

import numpy as np
import torch


def matmul_gflops(threads: int, n: int = 1024, reps: int = 20) -> float:
    torch.set_num_threads(threads)
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    t0 = time.perf_counter()
    for _ in range(reps):
        a @ b
    return 2 * n**3 * reps / (time.perf_counter() - t0) / 1e9


def load_texts(model_name: str, n: int, tokens: int | None, tok) -> list[str]:
    from auditor.lab.build import SHIPPED_DIR, load_lab_files

    files = load_lab_files(SHIPPED_DIR)
    pool = [x["text"] for x in files["members"] + files["nonmembers"]]
    if tokens is None:
        return pool[:n]
    # Join lab texts into texts of exactly `tokens` tokens for this tokenizer.
    out, buf = [], []
    for t in pool * 20:
        buf.extend(tok(" " + t, add_special_tokens=False)["input_ids"])
        while len(buf) >= tokens - 1 and len(out) < n:
            out.append(tok.decode(buf[: tokens - 1]))
            buf = buf[tokens - 1 :]
        if len(out) >= n:
            break
    return out


def minkpp_repo_loop(model, tokenizer, texts: list[str]) -> dict[str, list[float]]:
    """Our transcription of the Min-K%++ repository's per-text scoring loop (run.py): its scores per method
    (loss, zlib, mink_<ratio>, mink++_<ratio>), appended per text as the repository does."""
    import torch.nn.functional as F

    ratios = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]
    scores: dict[str, list[float]] = {}
    for text in texts:
        input_ids = torch.tensor(tokenizer.encode(text)).unsqueeze(0)
        with torch.no_grad():
            outputs = model(input_ids, labels=input_ids)
        loss, logits = outputs[:2]
        ll = -loss.item()
        scores.setdefault("loss", []).append(ll)
        scores.setdefault("zlib", []).append(ll / len(zlib.compress(bytes(text, "utf-8"))))
        targets = input_ids[0][1:].unsqueeze(-1)
        probs = F.softmax(logits[0, :-1], dim=-1)
        log_probs = F.log_softmax(logits[0, :-1], dim=-1)
        token_log_probs = log_probs.gather(dim=-1, index=targets).squeeze(-1)
        mu = (probs * log_probs).sum(-1)
        sigma = (probs * torch.square(log_probs)).sum(-1) - torch.square(mu)
        mink_plus = (token_log_probs - mu) / sigma.sqrt()
        for name, values in (("mink", token_log_probs), ("mink++", mink_plus)):
            for ratio in ratios:
                k_length = int(len(values) * ratio)
                scores.setdefault(f"{name}_{ratio}", []).append(np.mean(np.sort(values.cpu())[:k_length]).item())
    return scores


def repo_metrics(scores: dict[str, list[float]], labels: list[int]) -> object:
    """The repository's ``get_metrics`` per score and its results table (run.py, after the loop)."""
    import pandas as pd
    from sklearn.metrics import auc, roc_curve

    results: dict[str, list] = {"method": [], "auroc": [], "fpr95": [], "tpr05": []}
    for method, values in scores.items():
        fpr_list, tpr_list, _ = roc_curve(labels, values)
        auroc = auc(fpr_list, tpr_list)
        fpr95 = fpr_list[np.where(tpr_list >= 0.95)[0][0]]
        tpr05 = tpr_list[np.where(fpr_list <= 0.05)[0][-1]]
        for key, value in zip(results, (method, f"{auroc:.1%}", f"{fpr95:.1%}", f"{tpr05:.1%}"), strict=True):
            results[key].append(value)
    return pd.DataFrame(results)


def repo_end_to_end(model, tokenizer, texts: list[str]) -> list[float]:
    """run.py after loading: the per-text loop (scores of 22 methods), then the metrics of each."""
    scores = minkpp_repo_loop(model, tokenizer, texts)
    half = len(texts) // 2
    labels = [1] * half + [0] * (len(texts) - half)
    repo_metrics(scores, labels)
    from sklearn.metrics import roc_auc_score

    return [float(roc_auc_score(labels, scores["loss"]))]  # checked against ours (not timed work of run.py)


def ours_end_to_end(model, tokenizer, texts: list[str], batch: int) -> list[float]:
    """``auditor.api.mia`` on the same split (first half members): scores, bootstrap CIs, records, plot."""
    import auditor.api

    half = len(texts) // 2
    attacks = ("loss", "zlib", "min_k", "min_k_pp")
    out = auditor.api.mia(model, tokenizer, texts[:half], texts[half:], attacks=attacks, batch_size=batch)
    return [float(out["loss"]["auc"])]


def run_variant(variant: str, model_name: str, n: int, tokens: int | None, threads: int, batch: int) -> dict:
    from auditor.lm.tokenstats import compute_token_stats
    from auditor.models.load import ModelSpec, load_model
    from auditor.probes.mia.base import AttackInputs
    from auditor.probes.mia.min_k import score as min_k
    from auditor.probes.mia.min_k_pp import score as min_k_pp
    from auditor.probes.mia.zlib_ratio import zlib_score

    torch.set_num_threads(threads)
    lm = load_model(ModelSpec(model_name, device="cpu"))
    texts = load_texts(model_name, n, tokens, lm.tokenizer)
    n_tok = sum(len(x) for x in lm.tokenizer(texts)["input_ids"])

    def attacks(st):
        inp = AttackInputs(target=st)
        return [np.array([a.mean() for a in st.logprob]), zlib_score(inp), min_k(inp, k=0.2), min_k_pp(inp, k=0.2)]

    compute_token_stats(lm.model, lm.tokenizer, texts[:2], batch_size=2)  # warm-up
    if variant in ("run_mia (ours)", "repo run.py"):  # each side's imports before the clock, as run.py's are
        import matplotlib.pyplot  # noqa: F401
        import pandas  # noqa: F401
        import sklearn.metrics  # noqa: F401

        import auditor.api  # noqa: F401
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    loss: list[float] = []
    if variant == "run_mia (ours)":
        loss = ours_end_to_end(lm.model, lm.tokenizer, texts, batch)
    elif variant == "repo run.py":
        loss = repo_end_to_end(lm.model, lm.tokenizer, texts)
    elif variant == "ours":
        loss = [float(x) for x in attacks(compute_token_stats(lm.model, lm.tokenizer, texts, batch_size=batch))[0]]
    elif variant == "min-k++ repo loop":
        loss = minkpp_repo_loop(lm.model, lm.tokenizer, texts)["loss"]
    elif variant == "batch-1 loop":
        for t in texts:
            attacks(compute_token_stats(lm.model, lm.tokenizer, [t], batch_size=1))
    else:  # a pass per attack
        for t in texts:
            for _ in range(4):
                attacks(compute_token_stats(lm.model, lm.tokenizer, [t], batch_size=1))
    sec = time.perf_counter() - t0
    params = sum(p.numel() for name, p in lm.model.named_parameters() if "embed" not in name)
    head = lm.model.get_output_embeddings().weight.numel()
    flop_per_token = 2 * (params + (head if lm.model.config.tie_word_embeddings else 0))
    return {
        "variant": variant,
        "seconds": sec,
        "tokens": n_tok,
        "tokens_per_s": n_tok / sec,
        "gflops": flop_per_token * n_tok / sec / 1e9,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "rss_before_mb": rss0 / 1024,
        "loss": loss,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", default="lab")
    ap.add_argument("--texts", type=int, default=400)
    ap.add_argument("--tokens", type=int, help="make texts of exactly this many tokens")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--reps", type=int, default=3, help="repetitions per variant (sides alternate)")
    ap.add_argument("--all", action="store_true", help="also our batch-1 loop and a pass per attack")
    ap.add_argument("--end-to-end", action="store_true", help="whole runs: run_mia against the repo's run.py")
    ap.add_argument("--variant", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.variant:
        print(json.dumps(run_variant(a.variant, a.model, a.texts, a.tokens, a.threads, a.batch)))
        return
    bound = matmul_gflops(a.threads)
    variants = ["ours", "min-k++ repo loop", "batch-1 loop", "pass per attack"][: None if a.all else 2]
    if a.end_to_end:
        variants = ["run_mia (ours)", "repo run.py"]
    runs: dict[str, list[dict]] = {v: [] for v in variants}
    for rep in range(a.reps):
        for v in variants if rep % 2 == 0 else variants[::-1]:  # sides alternate between repetitions
            cmd = [sys.executable, __file__, "--variant", v, "--model", a.model, "--texts", str(a.texts),
                   "--threads", str(a.threads), "--batch", str(a.batch)]  # fmt: skip
            cmd += ["--tokens", str(a.tokens)] if a.tokens else []
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
            runs[v].append(json.loads(out))
    base_name = variants[1]
    diff = 0.0
    ours, repo = runs[variants[0]][0]["loss"], runs[base_name][0]["loss"]  # end to end: [LOSS AUC]
    diff = max(abs(x - y) for x, y in zip(ours, repo, strict=True))
    if diff > 1e-4:
        raise SystemExit(f"the two sides disagree: LOSS scores (or AUCs) differ by up to {diff:.2e}")
    base = statistics.median(r["tokens_per_s"] for r in runs[base_name])
    first = runs[variants[0]][0]
    what = "LOSS AUCs" if a.end_to_end else "LOSS scores"
    print(f"model={a.model} texts={a.texts} tokens={first['tokens']} threads={a.threads} batch={a.batch} "
          f"reps={a.reps} matmul bound={bound:.0f} GFLOP/s; {what} agree within {diff:.1e}")  # fmt: skip
    head = ("variant", "tok/s min", "tok/s med", "vs repo (med)", "% bound (med)", "peak RSS MB", "s min", "s med")
    print(
        f"{head[0]:<18} {head[1]:>9} {head[2]:>9} {head[3]:>13} {head[4]:>13} {head[5]:>11} {head[6]:>7} {head[7]:>7}"
    )
    for v, rs in runs.items():
        tps = [r["tokens_per_s"] for r in rs]
        med = statistics.median(tps)
        gf = statistics.median(r["gflops"] for r in rs)
        print(
            f"{v:<18} {min(tps):9.0f} {med:9.0f} {med / base:12.2f}x {100 * gf / bound:12.1f}% "
            f"{max(r['peak_rss_mb'] for r in rs):11.0f} {min(r['seconds'] for r in rs):7.2f} "
            f"{statistics.median(r['seconds'] for r in rs):7.2f}"
        )


if __name__ == "__main__":
    main()
