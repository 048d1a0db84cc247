"""Posterior -> expected-need draws, one module per approach."""
