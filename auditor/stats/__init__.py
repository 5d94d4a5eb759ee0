"""Statistics: AUC, TPR at FPR, bootstrap and proportion intervals."""
