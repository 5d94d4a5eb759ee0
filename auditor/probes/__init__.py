"""Probes: membership inference (``mia``) and training-data extraction."""
