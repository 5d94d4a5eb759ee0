"""Build a lab (generate, train, evaluate, write) or materialize the shipped standard lab.

A lab directory::

    model/                      HF checkpoint (config, safetensors, tokenizer) loadable with no project code
    members.jsonl nonmembers.jsonl canaries.jsonl facts.jsonl
    open_book.jsonl overriding.jsonl icl_classification.jsonl
    calibration.jsonl           held-out texts for pruning calibration
    lab.json                    preset, seed, sizes, training time and losses, figures
    checkpoints/                only with --checkpoints: intermediate checkpoints, index.json, seen.jsonl
    SHA256SUMS                  sha256 of every file above (shipped lab only is checked)
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import random
import shutil
import time
from pathlib import Path

import auditor.store.outdir as outdir
from auditor.errors import ConfigError, InputError
from auditor.inputs.data import write_jsonl
from auditor.lab.checkpoints import CheckpointSaver, CheckpointSpec
from auditor.lab.evaluate import STANDARD_TARGETS, check_targets, lab_figures
from auditor.lab.presets import get_preset
from auditor.lab.train import build_model, train_model, train_tokenizer
from auditor.lab.world import World, generate_world
from auditor.store.runs import atomic_write_json

log = logging.getLogger(__name__)

SHIPPED_DIR = Path(__file__).parent / "standard"
SHIPPED_RETRAIN_DIR = Path(__file__).parent / "standard_retrain"
HASHES = "SHA256SUMS"
FORGET_FRACTION = 0.1  # share of the lab's members that the unlearning benchmark asks to forget


def world_for(preset: str, seed: int) -> World:
    """Regenerate a lab's data from its preset and seed (seconds)."""
    return generate_world(get_preset(preset).world, seed)


def write_world_files(world: World, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name, rows in world.files().items():
        write_jsonl(out / f"{name}.jsonl", rows)
    rng = random.Random(f"{world.seed}-calibration")
    calib = [d for d in world.train_docs[:2000]]
    rng.shuffle(calib)
    write_jsonl(out / "calibration.jsonl", [{"id": f"calib-{i:04d}", "text": t} for i, t in enumerate(calib[:256])])


def file_hashes(folder: Path) -> dict[str, str]:
    out = {}
    for f in sorted(folder.rglob("*")):
        if f.is_file() and f.name != HASHES:
            out[f.relative_to(folder).as_posix()] = hashlib.sha256(f.read_bytes()).hexdigest()
    return out


def write_hashes(folder: Path) -> None:
    lines = [f"{h}  {name}\n" for name, h in file_hashes(folder).items()]
    (folder / HASHES).write_text("".join(lines), encoding="utf-8")


def verify_hashes(folder: Path) -> None:
    """Raise if any file listed in SHA256SUMS is missing or differs."""
    listing = folder / HASHES
    if not listing.exists():
        raise InputError(f"{listing} is missing; the shipped lab is incomplete, reinstall memaudit")
    have = file_hashes(folder)
    bad = []
    for line in listing.read_text(encoding="utf-8").splitlines():
        h, name = line.split("  ", 1)
        if have.get(name) != h:
            bad.append(name)
    if bad:
        raise InputError(
            f"shipped lab files changed or missing: {', '.join(bad)}; restore them (git checkout) or rebuild "
            "with `auditor lab build --preset standard --retrain`"
        )


def load_lab_files(folder: str | Path) -> dict[str, list[dict]]:
    folder = Path(folder)
    files = {}
    for name in ("members", "nonmembers", "canaries", "facts", "open_book", "overriding", "icl_classification"):
        p = folder / f"{name}.jsonl"
        if not p.exists():
            raise InputError(f"{p} is missing; is {folder} a lab directory? Build one with `auditor lab build`")
        with open(p, encoding="utf-8") as fh:
            files[name] = [json.loads(line) for line in fh if line.strip()]
    return files


def build_lab(
    preset: str,
    seed: int,
    out: str | Path,
    *,
    threads: int | None = None,
    overwrite: bool = False,
    checkpoints: CheckpointSpec | None = None,
) -> dict:
    """Generate the world, train the tokenizer and model, evaluate, and write the lab to ``out``.

    ``out`` must be new, empty, or (with ``overwrite``) a lab memaudit wrote: checked before training.
    ``checkpoints``: also save intermediate checkpoints and what each has seen (Biderman et al. 2023), in
    ``checkpoints/`` (see :mod:`auditor.lab.checkpoints`); the final model is the same as without.
    """
    p = get_preset(preset)
    tspec = p.train if threads is None else dataclasses.replace(p.train, threads=threads)
    out = outdir.check(out, "lab", resume=False, overwrite=overwrite)
    t0 = time.time()
    world = generate_world(p.world, seed)
    tok = train_tokenizer(world.train_docs, tspec.vocab_size)
    model = build_model(tspec, tok, seed)
    n_params = sum(x.numel() for x in model.parameters())
    log.info("lab %s seed %d: %d documents, %d parameters", preset, seed, len(world.train_docs), n_params)
    with outdir.staged(out, "lab") as tmp:  # checkpoints are written here during training
        saver = CheckpointSaver(tmp, checkpoints, preset, tok) if checkpoints and checkpoints.fractions else None
        train_info = train_model(
            model, tok, world.train_docs, tspec, seed, warmup_docs=world.warmup_docs, checkpoints=saver
        )
        figs = lab_figures(model, tok, world.files())
        info = {
            "preset": preset,
            "seed": seed,
            "world": dataclasses.asdict(p.world),
            "train": dataclasses.asdict(tspec),
            "sizes": {k: len(v) for k, v in world.files().items()} | {"train_documents": len(world.train_docs)},
            "parameters": n_params,
            **train_info,
            "build_seconds": round(time.time() - t0, 1),
            "figures": figs,
        }
        if preset == "standard":
            info["targets"] = {k: f"{op} {v}" for k, (op, v) in STANDARD_TARGETS.items()}
            info["targets_met"] = check_targets(figs)
        if saver is not None:
            info["checkpoints"] = saver.finish(world.files(), world.train_docs)
        write_world_files(world, tmp)
        model.save_pretrained(tmp / "model", safe_serialization=True)
        tok.save_pretrained(tmp / "model")
        atomic_write_json(tmp / "lab.json", info)
        write_hashes(tmp)
    return info


def materialize_standard(out: str | Path, *, overwrite: bool = False) -> dict:
    """Copy the shipped standard lab to ``out`` after checking its hashes (seconds)."""
    verify_hashes(SHIPPED_DIR)
    out = Path(out)
    if out.resolve() == SHIPPED_DIR.resolve():
        raise ConfigError("--out must differ from the shipped lab folder")
    outdir.check(out, "lab", resume=False, overwrite=overwrite, sources=[SHIPPED_DIR])
    with outdir.staged(out, "lab") as tmp:
        shutil.copytree(SHIPPED_DIR, tmp, dirs_exist_ok=True)
    return json.loads((out / "lab.json").read_text(encoding="utf-8"))


def forget_split(world: World) -> tuple[list[dict], list[dict]]:
    """The unlearning benchmark's split of the lab's members: (forget, retain).

    The first ``FORGET_FRACTION`` of the members (by id) form the forget set, the rest the retain set;
    the non-members are the holdout. Deterministic, so the shipped retrain model and any rebuild agree.
    """
    n = max(1, round(FORGET_FRACTION * len(world.members)))
    return world.members[:n], world.members[n:]


def forget_qa(rows: list[dict]) -> list[dict]:
    """Cloze questions about forget-set biographies (KnowMem): "<name> was born in" -> " <year>", and more."""
    import re

    out = []
    pat = re.compile(
        r"^(?P<name>\S+ \S+) was born in (?P<y1>\d+) in (?P<c1>\S+)\. (?P<first>\S+) worked as an? (?P<job>\S+)"
    )
    for r in rows:
        m = pat.match(r["text"])
        if not m:
            continue
        out.append({"id": f"{r['id']}-born", "prompt": f"{m['name']} was born in", "answer": f" {m['y1']}"})
        out.append(
            {"id": f"{r['id']}-city", "prompt": f"{m['name']} was born in {m['y1']} in", "answer": f" {m['c1']}"}
        )
    return out


def build_retrain(
    seed: int = 0,
    out: str | Path = SHIPPED_RETRAIN_DIR,
    *,
    threads: int | None = 1,
    tokenizer_dir: str | Path | None = None,
    overwrite: bool = False,
) -> dict:
    """Train the standard lab's oracle for unlearning: the same world, seed and tokenizer, minus the forget set.

    This is the "retrain" model of MUSE / TOFU (Shi et al. 2024; Maini et al. 2024): PrivLeak is measured
    relative to it. The tokenizer is the shipped standard lab's, so the two checkpoints share token ids.
    """
    from transformers import PreTrainedTokenizerFast

    p = get_preset("standard")
    tspec = p.train if threads is None else dataclasses.replace(p.train, threads=threads)
    out = outdir.check(out, "lab", resume=False, overwrite=overwrite)
    t0 = time.time()
    world = generate_world(p.world, seed)
    forget, retain = forget_split(world)
    drop = {r["text"] for r in forget}
    docs = [d for d in world.train_docs if d not in drop]
    tok = PreTrainedTokenizerFast.from_pretrained(str(tokenizer_dir or SHIPPED_DIR / "model"))
    model = build_model(tspec, tok, seed)
    train_info = train_model(model, tok, docs, tspec, seed, warmup_docs=world.warmup_docs)
    figs = lab_figures(model, tok, world.files())
    info = {
        "preset": "standard",
        "variant": "retrain_without_forget",
        "seed": seed,
        "forget_ids": [r["id"] for r in forget],
        "train_documents": len(docs),
        "removed_documents": len(world.train_docs) - len(docs),
        **train_info,
        "build_seconds": round(time.time() - t0, 1),
        "figures": figs,
    }
    with outdir.staged(out, "lab") as tmp:
        model.save_pretrained(tmp / "model", safe_serialization=True)
        tok.save_pretrained(tmp / "model")
        write_jsonl(tmp / "forget.jsonl", forget)
        write_jsonl(tmp / "retain.jsonl", retain)
        write_jsonl(tmp / "forget_qa.jsonl", forget_qa(forget))
        write_jsonl(tmp / "retain_qa.jsonl", forget_qa(retain))
        atomic_write_json(tmp / "lab.json", info)
        write_hashes(tmp)
    return info
