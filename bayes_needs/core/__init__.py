"""Provide the foundations every layer uses.

Errors, dims, InferenceData access, intervals, defaults, atomic output sets, interrupts and
executors. ``core`` imports nothing else from the package.
"""
