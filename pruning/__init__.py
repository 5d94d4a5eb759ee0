"""Pruning methods and masks, with no knowledge of probes.

Importing the package registers every method in ``auditor.pruning.methods.PRUNERS``:
magnitude, wanda (the paper's block-sequential procedure), wanda_nested, sparsegpt (block-sequential)
and sparsegpt_dense.
"""

from auditor.pruning import methods, sparsegpt, wanda  # noqa: F401  (registration)
from auditor.pruning.methods import PRUNERS, PruneSpec

__all__ = ["PRUNERS", "PruneSpec"]
