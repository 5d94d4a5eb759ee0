"""The only code that runs forward passes: teacher-forced statistics, cached decoding, one batching policy."""
