"""PyMC models: area and person demand models, cost weights, and their shared pieces."""
