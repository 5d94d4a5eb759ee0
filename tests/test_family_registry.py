"""A family owns its figures: a toy family registered in a test reaches the report, summary.json and the gate
through the registry alone (no other file of the package knows it)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

import auditor
from auditor.families import FAMILIES, declared
from auditor.family import FamilyContext, Figure
from auditor.report.build import write_report
from auditor.report.figures import collect_figures, figure_range
from auditor.report.gate import check, parse_rules
from auditor.report.meaning import direction, friendly, headline_paths, meaning
from auditor.store.record_tree import put
from auditor.store.runs import Record

pytestmark = pytest.mark.usefixtures("one_thread")

TOY_MEANING = "Share of the toy projection's weights that are still non-zero: what pruning has left of it."


class ToyFamily:
    """A family no package module names: the share of non-zero weights of the model's first projection,
    measured on 8 items of which 2 are skipped (as a probe skips texts it cannot use)."""

    name = "toy"
    section = "toy"
    needs = frozenset()
    samples = None
    figures = (
        Figure("toy.kept", TOY_MEANING, better="higher", headline=True, name="toy weights kept", unit="probes"),
        Figure("toy.by_part.<part>.kept", "Share kept in the {part} half.", better="higher", unit="probes"),
    )

    def prepare(self, sections: object, lab: Path | None) -> int:
        return 8

    def run(self, ctx: FamilyContext, data: int) -> list[Record]:
        w = next(p for n, p in ctx.model.named_parameters() if n.endswith("proj.weight"))
        halves = torch.chunk(w.detach().flatten(), 2)
        kept = [float((h != 0).float().mean()) for h in halves]
        skipped = {"no weight to probe": 2}
        out = [Record("toy", "toy", "kept", sum(kept) / 2, n=data - 2, skipped=skipped, **ctx.tags)]
        for part, k in zip(("first", "second"), kept, strict=True):
            out.append(Record("toy", f"toy@{part}", "kept", k, n=(data - 2) // 2, **ctx.tags))
        return out

    def tree(self, rows: list[dict], all_rows: list[dict]) -> dict:
        out: dict = {}
        for r in rows:
            _, _, part = r["task"].partition("@")
            put(out.setdefault("by_part", {}).setdefault(part, {}) if part else out, "kept", r)
        return {"toy": out}


@pytest.fixture()
def toy_registered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(FAMILIES._items, "toy", ToyFamily())


def test_toy_family_reaches_report_summary_and_gate(toy_registered, tiny_model_dir: Path, tmp_path: Path) -> None:
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    out = tmp_path / "run"
    res = auditor.sweep(model, tok, families=["toy"], methods=["magnitude"], sparsities=[0.0, 0.5], out=out)
    kept = {r["sparsity"] > 0: r["value"] for r in res["records"] if r["task"] == "toy"}
    assert kept[False] == pytest.approx(1.0) and 0.4 < kept[True] < 0.6  # measured by the family at each point

    # what the figure means comes from its declaration, through the registry
    assert declared("toy.kept").meaning == TOY_MEANING
    assert declared("points.magnitude.0.5.toy.by_part.first.kept").path == "toy.by_part.<part>.kept"
    assert meaning("toy.by_part.second.kept", {}) == "Share kept in the second half."
    assert direction("toy.kept") == "higher is better" and friendly("toy.kept") == "toy weights kept"
    assert figure_range("toy.kept.ci_low") == (0.0, 1.0)

    figures, _ = collect_figures(out)
    assert figures["toy"]["kept"] == pytest.approx(1.0)
    assert figures["toy"]["kept_n"] == 6 and figures["toy"]["kept_skipped"] == {"no weight to probe": 2}
    assert "toy.kept" in headline_paths(figures, 6)

    summary = json.loads((out / "summary.json").read_text())
    entry = summary["figures"]["toy.kept"]
    assert entry["value"] == pytest.approx(1.0) and entry["n"] == 6
    assert summary["figures"]["points.magnitude.0.5.toy.kept"]["value"] == pytest.approx(kept[True])
    assert not any(k.endswith(("_n", "_skipped")) for k in summary["figures"])  # evidence is not a figure

    results = check(parse_rules(["points.magnitude.0.5.toy.kept >= 0.9", "toy.kept >= 0.9"]), figures, None)
    assert [r.passed for r in results] == [False, False]  # 6 probes are too few to PASS under the default minimum
    assert results[0].value == pytest.approx(kept[True])

    html = write_report(out, redact=True).read_text(encoding="utf-8")
    assert "what pruning has left of it" in html  # the declared meaning on the toy's card
    assert "toy weights kept" in html
