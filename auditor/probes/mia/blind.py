"""The blind baseline: tell members from non-members without the model.

Das, Zhang and Tramèr (2024, "Blind Baselines Beat Membership Inference Attacks for Foundation Models")
show that on splits built by date or topic (WikiMIA, BookMIA, ...) a classifier that never sees the model
beats every published attack: the split, not the model, is being measured. Duan et al. (2024, "Do
Membership Inference Attacks Work on Large Language Models?") trace most reported success to such
distribution shift. So an attack's AUC means something only next to this one.

Our classifier follows their bag-of-words and date baselines: TF-IDF word 1-2-grams and character 3-5-grams
(within word boundaries), plus counts of four-digit years per decade 1900-2039, digits, and the text's
length, fed to an L2 logistic regression. Every text is scored out of fold (stratified k-fold, k = 5 or
fewer if a class is small), so no text is scored by a model that saw its label.
"""

from __future__ import annotations

import re

import numpy as np

from auditor.errors import InputError
from auditor.probes.mia.base import metric_records
from auditor.stats.metrics import membership_metrics
from auditor.store.runs import Record

YEAR = re.compile(r"(?<!\d)(19\d\d|20[0-3]\d)(?!\d)")
DECADES = tuple(range(1900, 2040, 10))


def surface_features(texts: list[str]) -> np.ndarray:
    """Per text: years mentioned per decade (Das et al.'s date baseline), digit share, log length in chars and words."""
    out = np.zeros((len(texts), len(DECADES) + 3))
    for i, t in enumerate(texts):
        for y in YEAR.findall(t):
            out[i, (int(y) - DECADES[0]) // 10] += 1
        out[i, -3] = sum(c.isdigit() for c in t) / max(len(t), 1)
        out[i, -2] = np.log1p(len(t))
        out[i, -1] = np.log1p(len(t.split()))
    return out


def blind_scores(members: list[str], nonmembers: list[str], *, folds: int = 5, seed: int = 0) -> np.ndarray:
    """Out-of-fold P(member) for ``members + nonmembers`` (in that order), from the texts alone."""
    from scipy.sparse import csr_matrix, hstack
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold
    from sklearn.preprocessing import StandardScaler

    k = min(folds, len(members), len(nonmembers))
    if k < 2:
        raise InputError(
            "the blind baseline needs at least 2 members and 2 non-members; add texts or set mia.blind: false"
        )
    texts = list(members) + list(nonmembers)
    y = np.r_[np.ones(len(members)), np.zeros(len(nonmembers))]
    scores = np.zeros(len(texts))
    for train, test in StratifiedKFold(n_splits=k, shuffle=True, random_state=seed).split(texts, y):
        words = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1)
        chars = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True, min_df=2)
        scale = StandardScaler()
        tr = [texts[i] for i in train]
        te = [texts[i] for i in test]
        x_tr = hstack(
            [
                words.fit_transform(tr),
                _chars(chars, tr, fit=True),
                csr_matrix(scale.fit_transform(surface_features(tr))),
            ]
        ).tocsr()
        x_te = hstack(
            [words.transform(te), _chars(chars, te, fit=False), csr_matrix(scale.transform(surface_features(te)))]
        ).tocsr()
        clf = LogisticRegression(C=1.0, max_iter=2000).fit(x_tr, y[train])
        scores[test] = clf.predict_proba(x_te)[:, 1]
    return scores


def _chars(vec: object, texts: list[str], *, fit: bool) -> object:
    """Character n-grams; an empty vocabulary (tiny folds) becomes no columns rather than an error."""
    from scipy.sparse import csr_matrix

    try:
        return vec.fit_transform(texts) if fit else vec.transform(texts)  # type: ignore[attr-defined]
    except (ValueError, AttributeError):
        return csr_matrix((len(texts), 0))


BLIND = "blind_baseline"  # the task name of its records, beside the attacks'


def blind_records(
    scores: np.ndarray,
    n_members: int,
    attack_aucs: dict[str, float],
    *,
    threshold: float,
    n_boot: int,
    seed: int,
    tags: dict,
) -> list[Record]:
    """The blind baseline's records (family ``mia``, task ``blind_baseline``): AUC with its bootstrap CI,
    TPR at 1% and 0.1% FPR, and ``shifted`` (1.0 when its AUC is at or above the best attack's, or at or
    above ``threshold``: the split itself separates members from non-members)."""
    res = membership_metrics(scores[:n_members], scores[n_members:], n_boot, seed, warn=False)  # the attacks' split
    best = max(attack_aucs.values(), default=None)
    shifted = res["auc"] >= threshold or (best is not None and res["auc"] >= best)
    extra = {"model_free": True, "threshold": threshold, "best_attack_auc": best}
    records = metric_records(BLIND, res, extra, tags)
    size = res["n_members"] + res["n_nonmembers"]
    base = {"n_members": res["n_members"], "n_nonmembers": res["n_nonmembers"], **extra}
    return [*records, Record("mia", BLIND, "shifted", float(shifted), n=size, extra=base, **tags)]
