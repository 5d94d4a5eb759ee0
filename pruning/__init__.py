"""Pruning methods and masks, with no knowledge of probes.

Importing the package registers every method in ``pruning.methods.PRUNERS``:
magnitude, wanda, sparsegpt.
"""

from pruning import methods, sparsegpt, wanda  # noqa: F401  (registration)
from pruning.methods import PRUNERS, PruneSpec

__all__ = ["PRUNERS", "PruneSpec"]
