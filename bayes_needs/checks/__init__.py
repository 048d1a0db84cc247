"""Check fits and the method: convergence gate, diagnostics, influence, SBC, sensitivity.

Also the comparison of the area- and person-based approaches.
"""
