"""Reports, figures and the gate: built from a run's records and samples only."""
