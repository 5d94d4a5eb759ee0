"""Inputs: text files, datasets and streamed corpora."""
