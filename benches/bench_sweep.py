"""A magnitude sweep against its probes alone, and against the Wanda repository's way (a reload per point).

Every side runs the same probe at each of ``--points`` sparsities 0, 1/P, ..., (P-1)/P: the MIA token
statistics (``compute_token_stats``, every attack's input) of ``--texts`` lab texts of ``--tokens`` tokens.

* ``probes alone``: the probe at every point on the dense model (the floor: no pruning at all);
* ``sweep (ours)``: ``Pruning(model, "magnitude")`` (ranking included in the time), then, in one
  ``pruning.session()`` as the pipeline's loop runs a method, per point ``with pruning.at(spec): probe``
  (each point zeroes only the weights it adds to the one before; one restore at the end, included);
* ``reload per point (wanda repo)``: per point, the checkpoint loaded again and pruned with a
  transcription of the Wanda repository's ``prune_magnitude`` (locuslab/wanda ``lib/prune.py``: per
  layer, ``thresh = sort(|W|.flatten())[int(numel * sparsity)]``, ``W[|W| <= thresh] = 0``), then the
  probe. It prunes ``int(numel * s) + 1`` weights and every tie of the threshold, so its probe values
  differ slightly from ours (printed).

Each side runs in a fresh subprocess (model load not timed, except the reloads of the reload side); the
order of the sides alternates between ``--reps`` repetitions and the table gives min and median seconds,
the ratio of medians to the probes alone, and the per-point pruning overhead (sweep minus probes, / P).

    python benches/bench_sweep.py --model smollm2-135m --texts 32 --tokens 128 --reps 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

import torch

SIDES = ("probes alone", "sweep (ours)", "reload per point (wanda repo)")


def wanda_prune_magnitude(modules: dict, sparsity_ratio: float) -> None:
    """The Wanda repository's ``prune_magnitude``, unstructured branch, over our target layers."""
    for m in modules.values():
        W = m.weight.data
        W_metric = torch.abs(W)
        thresh = torch.sort(W_metric.flatten())[0][int(W.numel() * sparsity_ratio)]
        W_mask = W_metric <= thresh
        W[W_mask] = 0


def run_side(side: str, model_name: str, n: int, tokens: int, points: int, threads: int, batch: int) -> dict:
    sys.path.insert(0, str(__import__("pathlib").Path(__file__).parent))
    from bench_mia import load_texts

    from auditor.lm.tokenstats import compute_token_stats
    from auditor.models.load import ModelSpec, load_model
    from auditor.pruning import PruneSpec
    from auditor.pruning.engine import Pruning, select_targets

    torch.set_num_threads(threads)
    spec = ModelSpec(model_name, device="cpu")
    lm = load_model(spec)
    texts = load_texts(model_name, n, tokens, lm.tokenizer)
    sparsities = [i / points for i in range(points)]

    def probe(model) -> list[float]:
        st = compute_token_stats(model, lm.tokenizer, texts, batch_size=batch)
        return [float(-a.mean()) for a in st.logprob]

    probe(lm.model)  # warm-up (and the head check, once per model)
    out: list[list[float]] = []
    t0 = time.perf_counter()
    if side == "probes alone":
        out = [probe(lm.model) for _ in sparsities]
    elif side == "sweep (ours)":
        pruning = Pruning(lm.model, "magnitude")
        with pruning.session():  # as the loop runs a method's points
            for s in sparsities:
                with pruning.at(PruneSpec(sparsity=s)):
                    out.append(probe(lm.model))
    else:
        for s in sparsities:
            model = load_model(spec).model
            if s > 0:
                wanda_prune_magnitude(select_targets(model, PruneSpec(sparsity=s)), s)
            out.append(probe(model))
            del model
    return {"side": side, "seconds": time.perf_counter() - t0, "nll": out}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--points", type=int, default=10)
    ap.add_argument("--texts", type=int, default=32, help="texts scored at each point (the probe)")
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--no-reload", action="store_true", help="leave out the reload-per-point side")
    ap.add_argument("--side", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.side:
        print(json.dumps(run_side(a.side, a.model, a.texts, a.tokens, a.points, a.threads, a.batch)))
        return
    sides = SIDES[:2] if a.no_reload else SIDES
    runs: dict[str, list[dict]] = {s: [] for s in sides}
    for rep in range(a.reps):
        for side in sides if rep % 2 == 0 else sides[::-1]:  # the order alternates between repetitions
            cmd = [sys.executable, __file__, "--side", side, "--model", a.model, "--texts", str(a.texts),
                   "--tokens", str(a.tokens), "--points", str(a.points), "--threads", str(a.threads),
                   "--batch", str(a.batch)]  # fmt: skip
            res = subprocess.run(cmd, capture_output=True, text=True, check=True)
            runs[side].append(json.loads(res.stdout.strip().splitlines()[-1]))
    alone, ours = runs[SIDES[0]][0]["nll"], runs[SIDES[1]][0]["nll"]
    if max(abs(x - y) for x, y in zip(alone[0], ours[0], strict=True)) > 0:
        raise SystemExit("the sweep's dense point differs from the dense probe")
    floor = statistics.median(r["seconds"] for r in runs[SIDES[0]])
    print(f"model={a.model} points={a.points} probe={a.texts} texts x {a.tokens} tokens (batch {a.batch}) "
          f"threads={a.threads} reps={a.reps}; sweep dense point identical to the dense probe")  # fmt: skip
    if not a.no_reload:
        peer = runs[SIDES[2]][0]["nll"]
        gap = [max(abs(x - y) for x, y in zip(p, q, strict=True)) for p, q in zip(ours, peer, strict=True)]
        print("max |mean NLL, ours - wanda repo| per point (its threshold ties prune more): "
              + " ".join(f"{g:.1e}" for g in gap))  # fmt: skip
    print(f"{'side':<31} {'s min':>8} {'s med':>8} {'vs probes (med)':>16} {'overhead/point':>15}")
    for side, rs in runs.items():
        secs = [r["seconds"] for r in rs]
        med = statistics.median(secs)
        print(f"{side:<31} {min(secs):8.1f} {statistics.median(secs):8.1f} {med / floor:15.2f}x "
              f"{(med - floor) / a.points:14.2f}s")  # fmt: skip


if __name__ == "__main__":
    main()
