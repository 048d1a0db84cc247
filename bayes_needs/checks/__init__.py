"""Checks of fits and of the method: convergence gate, diagnostics, influence, SBC and
the comparison of approaches."""
