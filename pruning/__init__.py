"""Pruning methods and masks, with no knowledge of probes.

Importing the package registers every method in ``pruning.methods.PRUNERS``:
magnitude, wanda (the paper's block-sequential procedure), wanda_nested, sparsegpt (block-sequential)
and sparsegpt_dense.
"""

from pruning import methods, sparsegpt, wanda  # noqa: F401  (registration)
from pruning.methods import PRUNERS, PruneSpec

__all__ = ["PRUNERS", "PruneSpec"]
