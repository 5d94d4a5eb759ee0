"""Membership-inference attacks, one file each; all are pure functions of token statistics."""

DEFAULT_ATTACKS: tuple[str, ...] = ("loss", "zlib", "lowercase", "min_k", "min_k_pp", "recall")
