"""The vectorized bootstrap (AUC and TPR at FPR per resample), its CIs, and the low-n TPR@FPR note.

Per-resample figures are checked against scikit-learn on the same resampled indices; the bootstrap's
random stream against a plain-loop transcription of the earlier one-resample-at-a-time bootstrap."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score, roc_curve

import auditor.stats.bootstrap as bootstrap
from auditor.errors import InputError
from auditor.probes.mia.runner import MIAConfig, mia_records
from auditor.report.build import write_report
from auditor.stats.bootstrap import bootstrap_figures, bootstrap_figures_many, resample_figures
from auditor.stats.metrics import (
    auc,
    bootstrap_ci,
    membership_metrics,
    membership_metrics_many,
    tpr_at_fpr,
    zero_fp_only,
)
from auditor.store.runs import RunDir

FPRS = (0.01, 0.001, 0.05, 0.5)


def _sk_figures(m: np.ndarray, n: np.ndarray) -> tuple[float, list[float]]:
    """AUC and TPR at each of FPRS by scikit-learn (the LiRA reading: best TPR with FPR <= target)."""
    y, s = np.r_[np.ones(m.size), np.zeros(n.size)], np.r_[m, n]
    fpr, tpr, _ = roc_curve(y, s, drop_intermediate=False)
    return roc_auc_score(y, s), [float(tpr[fpr <= f + 1e-12].max()) for f in FPRS]


def _loop_bootstrap(m: np.ndarray, n: np.ndarray, n_boot: int, seed: int) -> tuple[list[float], list[list[float]]]:
    """The earlier bootstrap, one resample at a time (members drawn first, then non-members)."""
    rng = np.random.default_rng(seed)
    aucs, tprs = [], []
    for _ in range(n_boot):
        mm, nn = m[rng.integers(0, m.size, m.size)], n[rng.integers(0, n.size, n.size)]
        aucs.append(auc(mm, nn))
        tprs.append([tpr_at_fpr(mm, nn, f) for f in FPRS])
    return aucs, tprs


@pytest.mark.parametrize("decimals", [0, 1, None])  # heavy ties, some ties, none
def test_resample_figures_equal_sklearn_on_same_indices(decimals: int | None) -> None:
    rng = np.random.default_rng(7)
    m, n = rng.normal(0.5, 1, 300), rng.normal(0, 1, 1100)
    if decimals is not None:
        m, n = np.round(m, decimals), np.round(n, decimals)
    idx_m, idx_n = rng.integers(0, m.size, (25, m.size)), rng.integers(0, n.size, (25, n.size))
    aucs, tprs = resample_figures(m, n, idx_m, idx_n, FPRS)
    for i in range(25):
        sk_auc, sk_tprs = _sk_figures(m[idx_m[i]], n[idx_n[i]])
        assert aucs[i] == pytest.approx(sk_auc, abs=1e-12)
        assert tprs[:, i].tolist() == sk_tprs


def test_bootstrap_is_the_loop_stream_in_any_batch_size(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(1)
    m, n = np.round(rng.normal(0.3, 1, 150), 1), np.round(rng.normal(0, 1, 400), 1)
    loop_aucs, loop_tprs = _loop_bootstrap(m, n, 60, seed=3)
    whole = bootstrap_figures(m, n, 60, 3, FPRS)
    monkeypatch.setattr(bootstrap, "CHUNK_ELEMENTS", 7 * 60)  # batches of 7 resamples (60 distinct scores or so)
    batched = bootstrap_figures(m, n, 60, 3, FPRS)
    for aucs, tprs in (whole, batched):
        assert np.abs(aucs - loop_aucs).max() <= 1e-12
        assert np.array_equal(tprs, np.array(loop_tprs).T)
    lo, hi = np.quantile(loop_aucs, [0.025, 0.975])
    assert bootstrap_ci(m, n, n_boot=60, seed=3) == pytest.approx((lo, hi), abs=1e-12)


def test_scores_of_one_split_share_the_draws_and_equal_their_own_bootstrap(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(2)
    m, n = rng.normal(0.4, 1, 90), rng.normal(0, 1, 70)
    splits = [(m, n), (np.round(m, 1), np.round(n, 1)), (-m, -n), (np.r_[m[:-1], np.nan], n)]
    monkeypatch.setattr(bootstrap, "CHUNK_ELEMENTS", 9 * 160)  # several batches of shared draws
    together = bootstrap_figures_many(splits, 50, 4, FPRS)
    for (mm, nn), (aucs, tprs) in zip(splits, together, strict=True):
        alone_aucs, alone_tprs = bootstrap_figures(mm, nn, 50, 4, FPRS)
        assert np.array_equal(aucs, alone_aucs, equal_nan=True) and np.array_equal(tprs, alone_tprs, equal_nan=True)
    assert np.isnan(together[3][0]).all() and not np.isnan(together[0][0]).any()
    assert membership_metrics_many(splits[:3], 50, 4) == [membership_metrics(a, b, 50, 4) for a, b in splits[:3]]
    with pytest.raises(InputError, match="same members and non-members"):
        bootstrap_figures_many([(m, n), (m[:-1], n)], 10, 0)


def test_bootstrap_ci_of_another_statistic_keeps_the_loop() -> None:
    m, n = np.arange(20.0), np.arange(30.0) / 2
    rng = np.random.default_rng(0)
    diffs = [m[rng.integers(0, 20, 20)].mean() - n[rng.integers(0, 30, 30)].mean() for _ in range(50)]
    got = bootstrap_ci(m, n, stat=lambda a, b: float(a.mean() - b.mean()), n_boot=50, seed=0)
    assert got == pytest.approx(tuple(np.quantile(diffs, [0.025, 0.975])))


def test_cis_contain_the_estimates_and_are_stable_across_seeds() -> None:
    rng = np.random.default_rng(0)
    m, n = rng.normal(1.0, 1, 3000), rng.normal(0, 1, 3000)
    runs = [membership_metrics(m, n, 400, seed) for seed in (0, 1, 2)]
    for res in runs:
        for key in ("auc", "tpr@1%fpr", "tpr@0.1%fpr"):
            lo, hi = res[f"{key}_ci"]
            assert lo < res[key] < hi
        assert not res["tpr@1%fpr_low_n"] and not res["tpr@0.1%fpr_low_n"]
    for key, tol in (("auc_ci", 0.005), ("tpr@1%fpr_ci", 0.03)):
        bounds = np.array([r[key] for r in runs])
        assert (bounds.max(axis=0) - bounds.min(axis=0)).max() < tol


@pytest.mark.parametrize(("n", "fpr", "low"), [(999, 0.001, True), (1000, 0.001, False), (99, 0.01, True),
                                               (100, 0.01, False), (37, 0.01, True)])  # fmt: skip
def test_zero_fp_only_when_one_false_positive_is_over_budget(n: int, fpr: float, low: bool) -> None:
    assert zero_fp_only(n, fpr) is low
    assert (1 / n > fpr) is low  # independent: one false positive's FPR


def _rows(n_members: int, n_nonmembers: int, attacks: tuple[str, ...]) -> list[dict]:
    rng = np.random.default_rng(0)
    labels = [int(i < n_members) for i in range(n_members + n_nonmembers)]
    return [
        {"id": f"t{i}", "label": y, "scores": {a: float(rng.normal(y)) for a in attacks}} for i, y in enumerate(labels)
    ]


def test_low_n_flags_records_and_warns_once(caplog: pytest.LogCaptureFixture) -> None:
    attacks = ("loss", "zlib", "min_k@0.2")
    variants = [(a, a, {}) for a in attacks]
    with caplog.at_level(logging.WARNING, logger="auditor.stats.metrics"):
        result, records = mia_records(_rows(50, 150, attacks), variants, MIAConfig(n_boot=50), {})
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "TPR@0.1% FPR with 150 non-members: fewer than 1,000" in warnings[0].getMessage()
    assert "TPR@1% FPR" not in warnings[0].getMessage()
    tpr = {(r.task, r.metric): r for r in records if r.metric.startswith("tpr@")}
    assert len(tpr) == 6
    for a in attacks:
        assert tpr[(a, "tpr@0.1%fpr")].extra["low_n"] and not tpr[(a, "tpr@1%fpr")].extra["low_n"]
        assert tpr[(a, "tpr@1%fpr")].ci == tuple(result[a]["tpr@1%fpr_ci"])


def test_low_n_note_in_the_report_from_records(tmp_path: Path) -> None:
    attacks = ("loss", "zlib")
    run = RunDir(tmp_path / "run", {"model": "tiny"})
    rows = _rows(40, 37, attacks)
    _, records = mia_records(rows, [(a, a, {}) for a in attacks], MIAConfig(n_boot=50), {})
    run.write("mia", records)
    run.samples("mia_scores").append("mia", [{**r, "checkpoint": "model"} for r in rows])
    html = write_report(run.path).read_text()
    md = (run.path / "report.md").read_text()
    for metric, bound in (("1%", "100"), ("0.1%", "1,000")):
        note = f"TPR@{metric} FPR with 37 non-members: fewer than {bound}, so it is the TPR at zero false positives"
        assert md.count(note) == 1 and html.count(note) == 1
    assert "| attack | AUC | 95% CI | TPR@1%FPR | 95% CI | TPR@0.1%FPR | 95% CI | members | non-members |" in md
