"""Membership-inference attacks, one file each; all are pure functions of token statistics."""

# The default: one fixed k each, so no figure is tuned on the evaluation data. Opt-in: ``reference`` (needs a
# reference model), ``recall`` (spends non-members on its prefix), ``lowercase``, and the k grids ``min_k`` /
# ``min_k_pp`` (whose best k is picked on the evaluation data itself, an optimistic figure).
DEFAULT_ATTACKS: tuple[str, ...] = ("loss", "zlib", "min_k@0.2", "min_k_pp@0.2")
