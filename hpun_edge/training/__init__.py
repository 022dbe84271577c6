"""Training HPUN (issue 3): config, patch data, the loop, checkpoints."""
