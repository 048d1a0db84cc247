"""Tables, plots and HTML written from fits and allocations."""
