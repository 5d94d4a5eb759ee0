"""Loading a checkpoint: source, device, dtype, adapters, the model options every command shares."""
