"""Run directories: records, samples, atomic writes, identity fingerprints, progress."""
