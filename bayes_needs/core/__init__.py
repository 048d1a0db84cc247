"""Foundations every layer uses: errors, dims, InferenceData access, intervals, seeds,
atomic output sets, interrupts and executors. Imports nothing else from the package."""
