"""Intervals honest at every n: Wilson for proportions, a bounded-mean Wilson for [0, 1] means, and membership
bootstrap intervals that are None (with a note) below the minimum class size, never a point."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy.stats import binomtest

from auditor.cli.mia import _with_ci, ci_notes
from auditor.forecast.render import _auc, notes
from auditor.forecast.stats import precision_recall, predictor_auc
from auditor.probes.extraction.config import ExtractionConfig
from auditor.probes.extraction.discoverable import aggregate
from auditor.probes.extraction.figures import extraction_tree
from auditor.probes.extraction.summary import Given, records_for, summarize
from auditor.probes.mia.base import metric_records
from auditor.probes.mia.figures import mia_tree
from auditor.stats.intervals import MIN_PER_CLASS, bounded_mean_ci, membership_ci, proportion_ci
from auditor.stats.metrics import TPR_FPRS, membership_metrics, membership_metrics_many

MIA_FIGS = ("auc", *TPR_FPRS)


@pytest.mark.parametrize("n", range(1, 51))
def test_proportion_ci_is_scipys_wilson(n: int) -> None:
    for k in range(n + 1):
        want = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
        assert proportion_ci(k, n) == pytest.approx((want.low, want.high), abs=1e-12, rel=0)


@pytest.mark.parametrize("n", [1, 2, 3])
def test_proportion_ci_has_width_and_holds_the_estimate_at_small_n(n: int) -> None:
    for k in range(n + 1):
        lo, hi = proportion_ci(k, n)
        assert 0.0 <= lo <= k / n <= hi <= 1.0 and hi - lo > 0.1


@pytest.mark.parametrize("n", [1, 2, 3])
@pytest.mark.parametrize("value", [0.0, 0.2, 0.5, 1.0])
def test_bounded_mean_ci_of_equal_values_has_width(n: int, value: float) -> None:
    lo, hi = bounded_mean_ci([value] * n)
    assert lo <= value <= hi and hi - lo > 0.1
    if value in (0.0, 1.0):  # 0/1 values are Bernoulli: the interval is the proportion's
        assert (lo, hi) == pytest.approx(proportion_ci(int(value) * n, n), abs=1e-15)


def test_bounded_mean_ci_is_wilson_at_the_mean_and_never_narrower_than_the_normal_interval() -> None:
    rng = np.random.default_rng(0)
    v = rng.uniform(0, 1, 40)
    assert bounded_mean_ci([0.0, 1.0, 1.0, 0.0]) == pytest.approx(proportion_ci(2, 4), abs=1e-15)
    lo, hi = bounded_mean_ci(v)
    half = 1.96 * v.std(ddof=1) / np.sqrt(v.size)  # the sd of a [0, 1] variable is at most sqrt(p(1 - p))
    assert hi - lo >= 2 * half * 0.9 and lo < v.mean() < hi


def _scores(n: int, shift: float, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(shift, 1.0, n)


@pytest.mark.parametrize(("n_m", "n_n"), [(1, 1), (2, 3), (3, 2), (3, 30), (30, 3), (MIN_PER_CLASS - 1, 50)])
def test_membership_ci_below_the_minimum_is_none_with_a_note(n_m: int, n_n: int) -> None:
    res = membership_metrics(_scores(n_m, 1.0, 0), _scores(n_n, 0.0, 1), n_boot=50, seed=0, warn=False)
    for fig in MIA_FIGS:
        assert res[f"{fig}_ci"] is None, fig
        note = res[f"{fig}_ci_note"]
        assert note.startswith("not estimable") and f"{n_m} member" in note and f"{n_n} non-member" in note
        assert f">= {MIN_PER_CLASS} each" in note
    assert res["auc"] is not None  # the figure itself stays


@pytest.mark.parametrize("n", [MIN_PER_CLASS, 40])
def test_membership_ci_at_the_minimum_is_a_proper_interval(n: int) -> None:
    res = membership_metrics(_scores(n, 0.5, 2), _scores(n, 0.0, 3), n_boot=200, seed=0, warn=False)
    for fig in MIA_FIGS:
        lo, hi = res[f"{fig}_ci"]
        assert lo <= res[fig] <= hi and hi > lo, fig
    assert "auc_ci_note" not in res


def test_a_bootstrap_that_always_agrees_is_not_shown_as_certainty() -> None:
    m, n = np.arange(10.0, 20.0), np.arange(10.0)  # perfectly separated: every resample's AUC is 1
    res = membership_metrics(m, n, n_boot=100, seed=0, warn=False)
    lo, hi = res["auc_ci"]
    assert res["auc"] == 1.0 and hi == 1.0 and lo < 1.0
    assert (lo, hi) == pytest.approx(proportion_ci(10, 10))  # Wilson at min(members, non-members)
    assert "every bootstrap resample gave 1.000" in res["auc_ci_note"]
    ci, note = membership_ci(0.5, np.full(50, 0.5), 6, 8, 6)
    assert ci is not None and ci[1] - ci[0] > 0 and note


def test_many_equals_one_by_one_with_none_intervals() -> None:
    splits = [(_scores(3, 1.0, s), _scores(4, 0.0, s + 9)) for s in range(3)]
    many = membership_metrics_many(splits, 30, 1, warn=False)
    assert many == [membership_metrics(a, b, 30, 1, warn=False) for a, b in splits]


def test_none_interval_flows_to_records_tree_and_table() -> None:
    res = membership_metrics(_scores(2, 1.0, 0), _scores(2, 0.0, 1), n_boot=50, seed=0, warn=False)
    records = metric_records("loss", res, {}, {})
    assert all(r.ci is None and "not estimable" in r.extra["ci_note"] for r in records if r.metric in MIA_FIGS)
    tree = mia_tree([dataclasses.asdict(r) for r in records])["loss"]
    assert "auc_ci" not in tree and tree["auc_ci_note"] == res["auc_ci_note"]
    assert _with_ci(res["auc"], res["auc_ci"]) == f"{res['auc']:.3f} [CI n/a]"
    assert _with_ci(0.5, [0.25, 0.75]) == "0.500 [0.250, 0.750]"
    lines = ci_notes({"loss": res})
    assert len(lines) == 1 and "not estimable: 2 members, 2 non-members" in lines[0] and "loss auc" in lines[0]


def test_forecast_auc_interval_below_the_minimum_is_none_and_noted() -> None:
    a = predictor_auc([0.9, 0.8, 0.1, 0.2, 0.3], [1, 1, 0, 0, 0], n_boot=50)
    assert a["auc"] == 1.0 and a["ci"] is None and "not estimable: 2 memorized, 3 not memorized" in a["ci_note"]
    assert _auc(a) == "1.000 [CI n/a]"
    result = {"early": [{"label": "early", "notes": [], "auc": {"neg_nll": a}}]}
    assert any("not estimable" in x for x in notes(result))
    pr = precision_recall([1, 1, 0], [1, 0, 0])
    assert pr["precision_ci"] == list(proportion_ci(1, 2)) and pr["recall_ci"] == list(proportion_ci(1, 1))


def _row(i: int, tm: float) -> dict:
    base = {"exact": False, "token_match": tm, "similarity": tm, "bleu": 0.0, "longest_run": 1, "matched_prefix": 1}
    return {"id": f"t{i}", "prefix_len": 4, "suffix_len": 5, **base}


def test_extraction_aggregate_at_n2_equal_token_match_has_width() -> None:
    agg = aggregate([_row(0, 0.2), _row(1, 0.2)])
    lo, hi = agg["token_match_ci"]
    assert agg["token_match"] == pytest.approx(0.2) and lo < 0.2 < hi and hi - lo > 0.1
    for key in ("exact_extraction_rate", "approx_extraction_rate", "similarity", "bleu"):
        lo, hi = agg[f"{key}_ci"]
        assert lo <= agg[key] <= hi and hi > lo, key
    # end to end: summary -> records -> the figures tree the report reads
    cfg = ExtractionConfig(prefix_lens=(4,), suffix_len=5)
    result = summarize([_row(0, 0.2), _row(1, 0.2)], cfg, Given(2, {}))
    records = records_for(result, cfg, "extraction", {})
    tree = extraction_tree([dataclasses.asdict(r) for r in records])["extraction"]
    lo, hi = tree["token_match_ci"]
    assert tree["token_match"] == pytest.approx(0.2) and lo < 0.2 < hi and tree["token_match_n"] == 2
