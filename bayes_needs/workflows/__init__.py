"""Config -> files: area and person runs, costs, sensitivity, comparison and reports."""
