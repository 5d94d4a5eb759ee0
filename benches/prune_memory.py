"""Peak host memory of a Wanda and a SparseGPT prune against the model's size (CPU, one process each).

Each measurement runs in a fresh Python process and reads its own high-water mark (``VmHWM`` in
/proc/self/status, Linux) after: loading the model only; loading and pruning once in place (what
``auditor prune`` does, ``Pruning.apply_permanently``); loading and pruning inside a sweep point
(``Pruning.at``, which keeps what it needs to restore the weights afterwards). The excess over "load
only" is the pruning's own state: the calibration activations of one block, one block's norms / Hessians,
and, for SparseGPT in a sweep, the original weights it restores (held in CPU memory by design).

    python benches/prune_memory.py [--model smollm2-135m] [--n-samples 32] [--seq-len 512] [--methods ...]

Prints a table. The target ("model + one block's state") is printed beside it: one block's Hessians
(SparseGPT: cols^2 float32 per layer) and the cached block inputs (n_samples x seq_len x hidden, float32,
held twice: inputs and outputs of the block being calibrated).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

CHILD = r"""
import json, sys, torch
from auditor.models.load import load_model
from auditor.pruning import PruneSpec
from auditor.pruning.calibration import calibration_rows
from auditor.pruning.engine import Pruning
from auditor.lab.pool import load_pool

def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM"):
            return int(line.split()[1]) * 1024

model, method, mode, n, seq = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
torch.set_num_threads(2)
lm = load_model(model)
out = {"params": sum(p.numel() for p in lm.model.parameters()),
       "bytes": sum(p.numel() * p.element_size() for p in lm.model.parameters())}
cfg = lm.model.config
out["hidden"], out["inter"] = cfg.hidden_size, getattr(cfg, "intermediate_size", 4 * cfg.hidden_size)
if method != "none":
    texts = [r["text"] for r in load_pool("stdlib_docstrings.jsonl")[0]]
    rows = calibration_rows(lm.tokenizer, texts, n, seq)
    spec = PruneSpec(sparsity=0.5)
    p = Pruning(lm.model, method, rows, PruneSpec(sparsity=0.0))
    if mode == "once":
        rep = p.apply_permanently(spec)
    else:  # a sweep point, as the pipeline's loop runs it (in a pruning session)
        with p.session(), p.at(spec) as rep:
            pass
    out["sparsity"] = rep["overall"]
out["peak"] = hwm()
print(json.dumps(out))
"""


def measure(model: str, method: str, mode: str, n: int, seq: int) -> dict:
    res = subprocess.run([sys.executable, "-c", CHILD, model, method, mode, str(n), str(seq)],
                         check=True, capture_output=True, text=True)  # fmt: skip
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--n-samples", type=int, default=32)
    ap.add_argument("--seq-len", type=int, default=512)
    ap.add_argument("--methods", default="magnitude,wanda,sparsegpt")
    a = ap.parse_args()
    base = measure(a.model, "none", "once", a.n_samples, a.seq_len)
    gib = 1024**3
    acts = 2 * a.n_samples * a.seq_len * base["hidden"] * 4
    hess = (6 * base["hidden"] ** 2 + base["inter"] ** 2) * 4  # Llama block: 6 layers read hidden, down_proj inter
    print(f"model {a.model}: {base['params'] / 1e6:.1f}M parameters, {base['bytes'] / gib:.3f} GiB of weights; "
          f"calibration {a.n_samples} x {a.seq_len} tokens")  # fmt: skip
    print(f"one block's state: activations in+out {acts / gib:.3f} GiB, SparseGPT Hessians {hess / gib:.3f} GiB")
    print(f"{'run':<28}{'peak GiB':>10}{'over load':>11}{'x weights':>11}")
    print(f"{'load only':<28}{base['peak'] / gib:>10.3f}{0:>11.3f}{base['peak'] / base['bytes']:>11.2f}")
    for method in a.methods.split(","):
        for mode in ("once", "sweep"):
            r = measure(a.model, method, mode, a.n_samples, a.seq_len)
            over = r["peak"] - base["peak"]
            label = f"{method} ({'prune' if mode == 'once' else 'sweep point'})"
            print(f"{label:<28}{r['peak'] / gib:>10.3f}{over / gib:>11.3f}{r['peak'] / r['bytes']:>11.2f}")


if __name__ == "__main__":
    main()
