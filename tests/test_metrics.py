from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score, roc_curve

from auditor.errors import InputError
from auditor.stats.intervals import proportion_ci
from auditor.stats.metrics import auc, bootstrap_ci, tpr_at_fpr


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_auc_equals_sklearn_with_ties(seed):
    rng = np.random.default_rng(seed)
    m = np.round(rng.normal(0.5, 1, 300), 1)  # rounding makes ties
    n = np.round(rng.normal(0.0, 1, 400), 1)
    y = np.r_[np.ones(m.size), np.zeros(n.size)]
    assert auc(m, n) == pytest.approx(roc_auc_score(y, np.r_[m, n]), abs=1e-12)


def test_auc_separable_is_one_and_reversed_is_zero():
    assert auc([3, 4, 5], [0, 1, 2]) == 1.0
    assert auc([0, 1], [5, 6]) == 0.0


@pytest.mark.parametrize("max_fpr", [0.001, 0.01, 0.1])
def test_tpr_at_fpr_equals_sklearn(max_fpr):
    rng = np.random.default_rng(3)
    m, n = rng.normal(1, 1, 2000), rng.normal(0, 1, 3000)
    fpr, tpr, _ = roc_curve(np.r_[np.ones(m.size), np.zeros(n.size)], np.r_[m, n], drop_intermediate=False)
    assert tpr_at_fpr(m, n, max_fpr) == pytest.approx(tpr[fpr <= max_fpr].max())


def test_bootstrap_ci_is_seeded_and_contains_estimate():
    rng = np.random.default_rng(0)
    m, n = rng.normal(1, 1, 200), rng.normal(0, 1, 200)
    a = bootstrap_ci(m, n, n_boot=200, seed=5)
    assert a == bootstrap_ci(m, n, n_boot=200, seed=5)
    assert a[0] < auc(m, n) < a[1]


def test_empty_scores_are_rejected():
    with pytest.raises(InputError):
        auc([], [1.0])


def test_wilson_interval():
    lo, hi = proportion_ci(8, 10)
    assert lo == pytest.approx(0.4902, abs=1e-3) and hi == pytest.approx(0.9433, abs=1e-3)
