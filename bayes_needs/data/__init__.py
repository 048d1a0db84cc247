"""Validated inputs: geography, data containers, validation, covariates, unit costs,
real-data readers and person records."""
