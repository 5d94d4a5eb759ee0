"""Per-instance unlearning difficulty (Baluta et al. 2024; Sepahvand et al. 2025): steps to criterion on
hand-written trajectories, the binned table by hand, tracking leaves the trained weights bit-identical, and
an unlearn-compare run on tiny memorizing models writes the table and report section and resumes without
duplicating a row."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from scipy.stats import spearmanr

from auditor.inputs.data import TextSet
from auditor.unlearning.difficulty import (
    DifficultySettings,
    example_difficulty,
    first_unextractable,
    measured_steps,
    steps_to_oracle_loss,
    steps_to_unextractable,
    trajectory_difficulty,
)
from auditor.unlearning.difficulty_table import FAMILY, by_el2n_tercile, by_repeats, difficulty_table, steps_cell

WORDS = ["colour", "size", "shape", "item", "What", "yes", "The", "is"]
SECRETS = [731, 158, 402, 966, 245, 873, 519, 364]
REPEATS = [1, 1, 2, 2, 3, 3, 4, 4]


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models (conftest.py)


# ---- pure: steps to criterion -------------------------------------------------------------------------------


def test_steps_to_criterion_on_a_toy_trajectory() -> None:
    assert (measured_steps(10, 4), measured_steps(8, 4), measured_steps(2, 1)) == ([0, 4, 8, 10], [0, 4, 8], [0, 1, 2])
    steps = [0, 2, 4, 6]
    T, F = True, False
    assert steps_to_unextractable(steps, [T, T, F, F]) == 4
    assert steps_to_unextractable(steps, [F, F, F, F]) == 0  # never extractable
    assert steps_to_unextractable(steps, [T, T, T, T]) is None  # not reached
    assert steps_to_unextractable(steps, [T, F, T, F]) == 6  # came back at 4: counts from when it settled
    assert first_unextractable(steps, [T, F, T, F]) == 2
    assert steps_to_unextractable(steps, [T, F, F, T]) is None  # extractable again at the end
    assert steps_to_oracle_loss(steps, [1.0, 2.0, 3.0, 4.0], 2.5) == 4
    assert steps_to_oracle_loss(steps, [1.0, 2.0, 3.0, 4.0], 10.0) is None
    assert steps_to_oracle_loss(steps, [1.0, 2.0, 3.0, 4.0], 0.5) == 0
    assert steps_to_oracle_loss(steps, [1.0, 3.0, 2.0, 3.0], 2.5) == 6
    assert steps_to_oracle_loss(steps, [1.0, 2.5, 2.6, 3.0], 2.5) == 2  # >= counts


def test_example_and_trajectory_difficulty() -> None:
    ex = example_difficulty("a", [0, 1, 2], [True, True, False], [0.1, 0.5, 0.9], 0.4)
    assert (ex.ever_extractable, ex.steps_to_unextractable, ex.steps_to_oracle_loss) == (True, 2, 1)
    assert (ex.loss_start, ex.loss_end, ex.oracle_loss) == (0.1, 0.9, 0.4)
    traj = {"steps": [0, 3], "ids": ["a", "b"], "extractable": [[True, True], None], "loss": [[1.0, 2.0], [1.0, 1.5]]}
    a, b = trajectory_difficulty(traj, None)
    assert a.steps_to_unextractable is None and a.steps_to_oracle_loss is None and a.ever_extractable
    assert b.ever_extractable is None and b.steps_to_unextractable is None  # too short to split
    a, b = trajectory_difficulty(traj, {"a": 1.5, "b": 1.5})
    assert (a.steps_to_oracle_loss, b.steps_to_oracle_loss) == (3, 3)
    with pytest.raises(Exception, match="difficulty_every"):
        DifficultySettings(every=0)


# ---- pure: the binned table ---------------------------------------------------------------------------------


def _rec(method: str, ex: str, metric: str, value: int | None, reached: bool | None, **extra: object) -> dict:
    return {"family": FAMILY, "checkpoint": method, "task": ex, "metric": metric, "value": value,
            "extra": {"reached": reached, "max_step": 10, "every": 2, **extra}}  # fmt: skip


def _toy_records() -> list[dict]:
    """Six examples of one method: (repeats, el2n, steps to unextractable or None, steps to oracle loss)."""
    spec = [(1, 0.9, 2, 4), (1, 0.8, 0, 2), (2, 0.5, 4, 6), (2, 0.6, 6, 8), (4, 0.2, None, 10), (4, 0.1, 8, None)]
    out = []
    for n, (rep, el2n, steps, oracle) in enumerate(spec):
        common = {"repeats": rep, "el2n": el2n, "ever_extractable": steps != 0, "el2n_model": "early"}
        out.append(_rec("m", f"e{n}", "steps_to_unextractable", steps, steps is not None, **common))
        out.append(_rec("m", f"e{n}", "steps_to_oracle_loss", oracle, oracle is not None, **common))
    return out


def test_binning_and_table_against_hand_computation() -> None:
    t = difficulty_table([*_toy_records(), {"family": "mia", "checkpoint": "m", "task": "loss", "metric": "auc"}])
    assert t["methods"] == {"m": {"n": 6, "max_step": 10, "every": 2}}
    assert t["oracle"] is True and t["el2n_model"] == "early"
    rows = {r["bin"]: r for r in t["rows"]}
    assert [r["bin"] for r in t["rows"] if r["binning"] == "repeats"] == ["repeats = 1", "repeats = 2", "repeats = 4"]
    r1, r2, r4 = rows["repeats = 1"], rows["repeats = 2"], rows["repeats = 4"]
    assert (r1["n"], r1["ever_extractable"], r1["median_steps_to_unextractable"]) == (2, 0.5, 1.0)
    assert (r1["mean_steps_to_unextractable"], r1["not_reached"], r1["mean_is_lower_bound"]) == (1.0, 0, False)
    assert (r2["median_steps_to_unextractable"], r2["median_steps_to_oracle_loss"]) == (5.0, 7.0)
    # repeats 4: steps (not reached, 8): median of (8, inf) is beyond the last step; mean (10 + 8) / 2 a lower bound
    assert r4["median_steps_to_unextractable"] is None and r4["median_steps_to_unextractable_beyond_max_step"]
    assert (r4["mean_steps_to_unextractable"], r4["not_reached"], r4["mean_is_lower_bound"]) == (9.0, 1, True)
    assert r4["median_steps_to_oracle_loss"] is None and r4["oracle_not_reached"] == 1
    assert steps_cell(r4, "median_steps_to_unextractable", 10) == "> 10"
    assert steps_cell(r4, "mean_steps_to_unextractable", 10) == "> 9.0"
    assert steps_cell(r1, "median_steps_to_unextractable", 10) == "1"
    # EL2N terciles by rank: (0.1, 0.2) low, (0.5, 0.6) mid, (0.8, 0.9) high
    el2n = [r for r in t["rows"] if r["binning"] == "el2n"]
    assert [r["bin"] for r in el2n] == ["EL2N low (0.100-0.200)", "EL2N mid (0.500-0.600)", "EL2N high (0.800-0.900)"]
    assert el2n[0]["not_reached"] == 1 and el2n[2]["median_steps_to_unextractable"] == 1.0
    # Spearman of steps (not reached = 10 + 2) with repeats and EL2N, as scipy computes it
    corr = {(c["criterion"], c["covariate"]): c for c in t["correlations"]}
    steps = [2, 0, 4, 6, 12, 8]
    ref = spearmanr(steps, [1, 1, 2, 2, 4, 4])
    c = corr[("steps_to_unextractable", "repeats")]
    assert c["n"] == 6 and c["rho"] == pytest.approx(ref.statistic) and c["p"] == pytest.approx(ref.pvalue)
    # no ties in EL2N or steps: rho = 1 - 6 sum(d^2) / (n (n^2 - 1)), rank differences (-4, -4, 0, 0, 4, 4)
    assert corr[("steps_to_unextractable", "el2n")]["rho"] == pytest.approx(1 - 6 * 64 / (6 * 35))
    text = t["sentences"][0]
    assert text.startswith("m, steps to unextractable: more-repeated examples took more steps (Spearman rho(steps, "
                           "repeats) = 0.96, p = 0.0028, n = 6); in-distribution (low-EL2N) examples took more steps "
                           "(Spearman rho(steps, el2n) = -0.83, p = 0.042, n = 6)")  # fmt: skip


def test_repeats_quartile_bins_and_small_sets() -> None:
    rows = [{"id": str(i), "repeats": r} for i, r in enumerate([1, 2, 3, 4, 5, 6, 7, 8, 16, 32])]
    bins = by_repeats(rows)  # 10 distinct values > 6: quartile bins, edges from the data
    assert [b for b, _ in bins] == ["repeats 1-3", "repeats 4-5", "repeats 6-7", "repeats 8-32"]
    assert sum(len(p) for _, p in bins) == 10
    assert by_repeats([{"id": "a"}]) == []  # no repeats field: no bins
    two = by_el2n_tercile([{"id": "a", "el2n": 0.3}, {"id": "b", "el2n": 0.1}])
    assert [(b.split()[1], [r["id"] for r in p]) for b, p in two] == [("low", ["b"]), ("mid", ["a"])]
    t = difficulty_table([_rec("m", "a", "steps_to_unextractable", 2, True, repeats=1, el2n=0.1)])
    assert t["oracle"] is False and "not measurable" in t["sentences"][0]


# ---- tiny memorizing models ---------------------------------------------------------------------------------


def _forget_rows() -> list[dict]:
    return [{"id": f"f{i}", "text": f"{w} {i} is {s}.", "repeats": r}
            for i, (w, s, r) in enumerate(zip(WORDS, SECRETS, REPEATS, strict=True))]  # fmt: skip


def _retain_rows() -> list[dict]:
    return [{"id": f"r{i}", "text": f"The size of item {i} is {i * 7 % 13}."} for i in range(8)]


def _train(model_dir: Path, texts: list[str], out: Path, steps: int = 100) -> Path:
    """Fit the tiny model to ``texts`` (full batch, AdamW lr 2e-2: 100 steps memorize the secrets) and save it."""
    from auditor.lm.batching import pad_batch
    from auditor.models.load import load_model

    lm = load_model(str(model_dir))
    torch.manual_seed(0)
    for p in lm.model.parameters():
        p.requires_grad_(True)
    ids, mask = pad_batch(lm.tokenizer(texts)["input_ids"], lm.tokenizer.pad_token_id, torch.device("cpu"))
    opt = torch.optim.AdamW(lm.model.parameters(), lr=2e-2)
    lm.model.train()
    for _ in range(steps):
        loss = lm.model(input_ids=ids, attention_mask=mask, labels=ids.masked_fill(mask == 0, -100)).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    lm.model.save_pretrained(out, safe_serialization=True)
    lm.tokenizer.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def lab(tmp_path_factory, tiny_model_dir: Path) -> dict[str, Path]:
    """forget (8 secrets, with repeats), retain, holdout files; base = trained on forget (each row ``repeats``
    times) and retain, retrain = the same on retain only (the oracle)."""
    out = tmp_path_factory.mktemp("difficulty")
    forget, retain = _forget_rows(), _retain_rows()
    holdout = [
        {"id": f"h{i}", "text": f"{w} {i + 10} is {s + 11}."}
        for i, (w, s) in enumerate(zip(WORDS, SECRETS, strict=True))
    ]
    for name, rows in (("forget", forget), ("retain", retain), ("holdout", holdout)):
        (out / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    seen = [r["text"] for r in forget for _ in range(r["repeats"])] + [r["text"] for r in retain]
    base = _train(tiny_model_dir, seen, out / "base")
    retrain = _train(tiny_model_dir, [r["text"] for r in retain], out / "retrain")
    return {"dir": out, "base": base, "retrain": retrain}


def _with_dropout(model: torch.nn.Module) -> None:
    """Attention dropout on, so training draws from the RNG: a tracker that drew from it would show."""
    for m in model.modules():
        if hasattr(m, "attention_dropout"):
            m.attention_dropout = 0.2


@pytest.mark.parametrize("method", ["gradient_ascent", "npo"])
def test_tracking_does_not_change_the_final_weights(method: str, lab: dict) -> None:
    from auditor.models.load import load_model
    from auditor.unlearning import UnlearnConfig, unlearn
    from auditor.unlearning.difficulty_tracker import DifficultyTracker

    forget = TextSet([r["id"] for r in _forget_rows()], [r["text"] for r in _forget_rows()], "forget")
    retain = TextSet([r["id"] for r in _retain_rows()], [r["text"] for r in _retain_rows()], "retain")
    cfg = UnlearnConfig(lr=3e-3, steps=5, batch_size=4)
    weights, figures = [], []
    for tracker in (None, DifficultyTracker(DifficultySettings(every=2, prefix_len=3, suffix_len=6))):
        lm = load_model(str(lab["base"]))
        _with_dropout(lm.model)
        figures.append(unlearn(lm.model, lm.tokenizer, method, forget, retain, cfg, observer=tracker))
        weights.append({k: v.clone() for k, v in lm.model.state_dict().items()})
        assert not lm.model.training
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0]), "tracking changed the weights"
    assert figures[0]["final_losses"] == figures[1]["final_losses"] and "observer_seconds" in figures[1]
    traj = tracker.trajectory()  # type: ignore[union-attr]
    assert traj["steps"] == [0, 2, 4, 5] and traj["ids"] == forget.ids
    assert all(len(e) == 4 for e in traj["extractable"]) and all(len(x) == 4 for x in traj["loss"])
    # the base model reproduces secrets, so the trajectories start somewhere: 6 of 8 with this fixture, and 8, 8, 3
    # with the tiny model initialised from seeds 1-3 (a bar of 6 had no margin); the smallest loss rise over the
    # run, 0.27 (npo) and 0.60 (gradient ascent), was 0.92-1.87 for seeds 1-3
    assert sum(e[0] for e in traj["extractable"]) >= 2, "the base model should reproduce secrets"
    assert all(x[-1] > x[0] for x in traj["loss"])


# ---- end to end: unlearn-compare --------------------------------------------------------------------------


def _overrides(lab: dict, out: Path) -> list[str]:
    d = lab["dir"]
    return [f"base={lab['base']}", f"retrain={lab['retrain']}", f"forget={d / 'forget.jsonl'}",
            f"retain={d / 'retain.jsonl'}", f"holdout={d / 'holdout.jsonl'}",
            "methods=[gradient_ascent, npo, prune_unlearn]", "method_config={lr: 3e-3, steps: 6, batch_size: 4}",
            "difficulty_every=2", "prefix_len=3", "suffix_len=6", "resurfacing_sparsities=[]", f"out={out}",
            "device=cpu"]  # fmt: skip


def _units(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()]


def _difficulty_rows(out: Path) -> list[tuple]:
    rows = [r for r in _units(out / "records.jsonl") if r.get("family") == FAMILY]
    return sorted((r["checkpoint"], r["task"], r["metric"], r["value"]) for r in rows)


def test_compare_writes_the_difficulty_table_and_resumes(lab: dict, tmp_path: Path, capsys) -> None:
    from auditor.cli.tables import print_run_table
    from auditor.pipeline.unlearn import difficulty_plan, load_compare_config, run_compare
    from auditor.report.build import write_report

    overrides = _overrides(lab, tmp_path / "run")
    assert difficulty_plan(load_compare_config(None, [*overrides, "difficulty_every=0"])) is None
    out = run_compare(load_compare_config(None, overrides))
    rows = _difficulty_rows(out)
    for method in ("gradient_ascent", "npo"):
        for metric in ("steps_to_unextractable", "steps_to_oracle_loss"):
            assert sorted(r[1] for r in rows if r[0] == method and r[2] == metric) == [f"f{i}" for i in range(8)]
    assert not [r for r in rows if r[0] == "prune_unlearn"]  # one shot: nothing to track
    assert len([r for r in rows if r[2] in ("el2n", "oracle_loss")]) == 16
    traj = json.loads((out / "unlearned" / "npo" / "difficulty.json").read_text())
    assert traj["steps"] == [0, 2, 4, 6] and sum(e[0] for e in traj["extractable"]) >= 2  # 6 of 8; 3-8 over seeds

    table = json.loads((out / "unlearning_difficulty.json").read_text())
    assert set(table["methods"]) == {"gradient_ascent", "npo"} and table["oracle"]
    bins = [r["bin"] for r in table["rows"] if r["method"] == "npo"]
    assert bins[:4] == ["repeats = 1", "repeats = 2", "repeats = 3", "repeats = 4"] and len(bins) == 7
    assert all(0 <= r["ever_extractable"] <= 1 for r in table["rows"]) and any(
        r["ever_extractable"] for r in table["rows"]
    )
    assert table["sentences"] and all("Spearman" in s or "not measurable" in s for s in table["sentences"])
    md = (out / "unlearning_difficulty.md").read_text()
    assert "median steps to unextractable" in md and "EL2N was scored with the base checkpoint" in md
    html = write_report(out).read_text()
    assert "Per-instance unlearning difficulty" in html and "median steps to oracle loss" in html
    print_run_table(out)
    assert "unlearning difficulty (median steps to unextractable per bin):" in capsys.readouterr().out

    n = len(_units(out / "records.jsonl"))
    run_compare(load_compare_config(None, overrides))  # complete: nothing is added
    assert len(_units(out / "records.jsonl")) == n
    _crash(out)
    run_compare(load_compare_config(None, overrides))
    assert _difficulty_rows(out) == rows  # rewritten once each, values as before (same seed, same trajectory)
    assert len(_units(out / "records.jsonl")) == n


def _crash(out: Path) -> None:
    """A crash while gradient_ascent trained (its checkpoint and every later unit of it gone) and one inside the
    write of npo's difficulty unit (three of its lines and a cut line left)."""
    import shutil

    shutil.rmtree(out / "unlearned" / "gradient_ascent")
    lines = (out / "records.jsonl").read_text().splitlines()
    keep = [x for x in lines if "gradient_ascent" not in json.loads(x)["_unit"]]
    npo = [x for x in keep if json.loads(x)["_unit"] == "difficulty/npo"]
    keep = [x for x in keep if json.loads(x)["_unit"] != "difficulty/npo"] + npo[:3]
    (out / "records.jsonl").write_text("\n".join(keep) + "\n" + npo[3][: len(npo[3]) // 2])
