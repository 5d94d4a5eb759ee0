"""The real-model lab: SmolLM2-135M fully fine-tuned on a random half of a real text pool, with canaries.

The synthetic lab's ground truth, on a pretrained model and real text: members (fine-tuned on), non-members
(the pool's other half), canaries inserted 1, 2, 4, ... 64 times, a forget set, and the retrain-without-forget
oracle (MUSE / TOFU's "retrain" model, Shi et al. 2024; Maini et al. 2024) trained by the same recipe.
Built on demand and cached (``~/.cache/memaudit/lab-smollm2-seed0``, like the GGUF conversion), not shipped.

Layout of a built folder (the standard lab's names where they exist)::

    model/                              fine-tuned checkpoint (safetensors, float32) + tokenizer
    members.jsonl nonmembers.jsonl      {id, text, pool_id}
    canaries.jsonl                      {id, prefix, secret, repeats}
    calibration.jsonl                   pool texts in neither set (pruning calibration)
    forget.jsonl retain.jsonl           the unlearning split of the members
    lab.json                            recipe, pool sha256, sizes, losses, timings, ground-truth figures and checks
    checkpoints/                        only with --checkpoints: intermediate checkpoints (auditor.lab.checkpoints)
    SHA256SUMS
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from transformers import PreTrainedTokenizerBase

import auditor.store.outdir as outdir
from auditor.errors import ConfigError
from auditor.inputs.data import write_jsonl
from auditor.lab.checkpoints import CheckpointSaver, CheckpointSpec
from auditor.lab.finetune import FinetuneSpec, finetune
from auditor.lab.pool import CanarySpec, PoolSpec, forget_retain, load_pool, make_canaries, split_pool, training_stream
from auditor.lab.truth import TruthSpec, ground_truth
from auditor.models.load import cache_root, ensure_pad_token, resolve_device, smollm2_folder
from auditor.store.runs import atomic_write_json

log = logging.getLogger(__name__)

BASE_MODEL = "smollm2-135m"


@dataclass(frozen=True)
class SmolLM2Preset:
    """A real-model lab recipe: the pool split, the canaries, the fine-tuning and the checks."""

    name: str
    pool: PoolSpec = field(default_factory=PoolSpec)
    canaries: CanarySpec = field(default_factory=CanarySpec)
    train: FinetuneSpec = field(default_factory=FinetuneSpec)
    truth: TruthSpec = field(default_factory=TruthSpec)


PRESETS: dict[str, SmolLM2Preset] = {
    # 120 members x ~90 tokens x 4 epochs + 254 canary insertions (~16 tokens): ~47k training tokens. Full
    # fine-tuning runs at ~60 tokens per CPU-second here (measured on 1 thread), so ~8 min of training on 2
    # idle cores, ~10 min with the checks: half the 20-minute budget, a margin for slower CPUs.
    "smollm2": SmolLM2Preset("smollm2"),
    # The same code path in about a minute (the slow test): a few texts, three steps.
    "smollm2-tiny": SmolLM2Preset(
        "smollm2-tiny",
        PoolSpec(n_members=10, n_nonmembers=10, max_tokens=80, n_calibration=4),
        CanarySpec(levels=(1, 4), per_level=1),
        FinetuneSpec(epochs=1, batch_size=2, max_steps=2),
        TruthSpec(n_estimate=16, n_permutations=3),
    ),
}


def get_smollm2_preset(name: str) -> SmolLM2Preset:
    if name not in PRESETS:
        raise ConfigError(f"unknown smollm2 lab preset {name!r}; choose one of: {', '.join(PRESETS)}")
    return PRESETS[name]


def default_dir(preset: str, seed: int, without_forget: bool, cache_dir: str | None = None) -> Path:
    """Where a build is cached: ``<cache>/lab-<preset>-seed<N>[-retrain]`` (seed 0 of smollm2: the
    ``lab:smollm2`` / ``lab:smollm2-retrain`` aliases, :data:`auditor.models.load.SMOLLM2_LABS`)."""
    return cache_root(cache_dir) / f"lab-{preset}-seed{seed}{'-retrain' if without_forget else ''}"


def recipe(
    p: SmolLM2Preset,
    spec: FinetuneSpec,
    seed: int,
    without_forget: bool,
    pool_sha: str,
    checkpoints: CheckpointSpec | None = None,
) -> dict:
    """What a build depends on (as lab.json stores it): a cached build is reused only if all of it matches.

    Checkpoint fractions are part of it when some are asked for (so a build without them is not reused);
    left out otherwise, so builds made before checkpoints existed still match."""
    want = {
        "preset": p.name,
        "seed": seed,
        "without_forget": without_forget,
        "pool": {"sha256": pool_sha} | dataclasses.asdict(p.pool),
        "canary_spec": dataclasses.asdict(p.canaries),
        "train": dataclasses.asdict(spec),
    }
    if checkpoints and checkpoints.fractions:
        want["checkpoint_fractions"] = list(checkpoints.fractions)
    return json.loads(json.dumps(want))


def cached_info(out: Path, want: dict) -> dict | None:
    """The lab.json of a finished build of the recipe ``want`` at ``out``, else None."""
    try:
        info = json.loads((out / "lab.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    ok = outdir.marker_kind(out) == "lab" and (out / "model" / "config.json").is_file()
    return info if ok and all(info.get(k) == v for k, v in want.items()) else None


def lab_data(p: SmolLM2Preset, seed: int) -> tuple[dict[str, list[dict]], str]:
    """Every data file of the lab (a pure function of the pool file and the seed) and the pool's sha256."""
    rows, sha = load_pool(p.pool.file)
    files = split_pool(rows, p.pool, seed)
    files["canaries"] = make_canaries(p.canaries, seed)
    files["forget"], files["retain"] = forget_retain(files["members"], p.pool.forget_fraction)
    return files, sha


def _load_base() -> tuple[torch.nn.Module, object, str]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from auditor.store.identity import folder_fingerprint

    folder = smollm2_folder()
    model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32, use_safetensors=True)
    tok = AutoTokenizer.from_pretrained(str(folder))
    ensure_pad_token(model, tok)
    return model, tok, folder_fingerprint(folder)


def build_smollm2(
    preset: str = "smollm2",
    seed: int = 0,
    out: str | Path | None = None,
    *,
    without_forget: bool = False,
    threads: int | None = None,
    device: str | None = None,
    overwrite: bool = False,
    checkpoints: CheckpointSpec | None = None,
) -> dict:
    """Fine-tune SmolLM2-135M on the members (minus the forget set with ``without_forget``) and the canaries,
    check the ground truth, and write the lab to ``out`` (default: the cache). A finished build of the same
    recipe at ``out`` is reused (``info["cached"]``) unless ``overwrite``. ``checkpoints``: also save
    intermediate checkpoints and what each has seen (Biderman et al. 2023; :mod:`auditor.lab.checkpoints`)."""
    p = get_smollm2_preset(preset)
    spec = p.train if threads is None else dataclasses.replace(p.train, threads=threads)
    ckpt = checkpoints or CheckpointSpec()
    out = Path(out) if out else default_dir(preset, seed, without_forget)
    files, sha = lab_data(p, seed)
    want = recipe(p, spec, seed, without_forget, sha, ckpt)
    if not overwrite and (info := cached_info(out, want)):
        return info | {"cached": True}
    out = outdir.check(out, "lab", resume=False, overwrite=overwrite)
    dev = resolve_device(device)
    t0, c0 = time.time(), time.process_time()
    train_members = files["retain"] if without_forget else files["members"]
    docs = training_stream(train_members, files["canaries"], spec.epochs, seed)
    model, tok, base_fp = _load_base()
    log.info("smollm2 lab %s seed %d: %d documents on %s", preset, seed, len(docs), dev)
    with outdir.staged(out, "lab") as tmp:  # checkpoints are written here during training
        saver = CheckpointSaver(tmp, ckpt, preset, tok) if ckpt.fractions else None
        train_info = finetune(model, tok, docs, spec, seed, dev, checkpoints=saver)
        t1 = time.time()
        figs = ground_truth(model, tok, files, p.truth, seed)
        info = {
            **want,
            "variant": "retrain_without_forget" if without_forget else "fine_tuned",
            "base_model": {"source": BASE_MODEL, "fingerprint": base_fp},
            "sizes": {k: len(v) for k, v in files.items()},
            "forget_ids": [r["id"] for r in files["forget"]],
            "parameters": sum(x.numel() for x in model.parameters()),
            **train_info,
            "eval_seconds": round(time.time() - t1, 1),
            "build_seconds": round(time.time() - t0, 1),
            "build_cpu_seconds": round(time.process_time() - c0, 1),
            "torch_threads": torch.get_num_threads(),
            "figures": figs,
            "checks_passed": all(figs["checks"].values()),
        }
        if saver is not None:
            info["checkpoints"] = saver.finish(files, docs)
        _write(tmp, files, model, tok, info)
    return info


def _write(
    tmp: Path, files: dict[str, list[dict]], model: torch.nn.Module, tok: PreTrainedTokenizerBase, info: dict
) -> None:
    """The lab's data files, final model, lab.json and SHA256SUMS into the staging folder ``tmp``."""
    from auditor.lab.build import write_hashes

    for name, rows in files.items():
        write_jsonl(tmp / f"{name}.jsonl", rows)
    model.to("cpu").save_pretrained(tmp / "model", safe_serialization=True)
    tok.save_pretrained(tmp / "model")
    atomic_write_json(tmp / "lab.json", info)
    write_hashes(tmp)
