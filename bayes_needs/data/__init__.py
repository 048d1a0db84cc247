"""Validated inputs of the funding formulae.

Geography, the data containers (area, person and spend data), validation, covariates, unit
costs and cost designs, the real-data readers and person records.
"""
