"""Settings as data: run configs, model configs, priors and scenario files."""
