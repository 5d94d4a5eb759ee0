"""The one loop: checkpoints x points x families, resumable, into records."""
