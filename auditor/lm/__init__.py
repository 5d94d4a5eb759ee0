"""The only code that runs forward passes, with one batching policy.

``batching`` (order, padding, input device, auto batch size, out-of-memory halving), ``heads`` (the LM
head on selected positions, in chunks), ``forward`` (teacher-forced passes reading only scored
positions), ``scoring`` and ``tokenstats`` (the statistics built on it), ``decoding`` (cached decoding),
``training`` (the one collate, training step and learning-rate schedule every trainer uses).
"""
