"""The one numpy generative model, and the synthetic England built on it."""
