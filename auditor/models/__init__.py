"""Loading a checkpoint: source, device, dtype, adapters, data-parallel processes."""
