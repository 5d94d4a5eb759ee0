"""Run directories: records, samples, atomic writes, identity fingerprints, progress, and the data-parallel
process group that decides who writes."""
