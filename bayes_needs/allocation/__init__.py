"""Allocation maths: posterior need draws x cost weights -> each LA's share of a national pot.

One concern per module:

* :mod:`~bayes_needs.allocation.inputs`: validation and alignment of need draws, per-LA
  values, cost weights (and how their draws pair with demand draws) and the pot;
* :mod:`~bayes_needs.allocation.shares`: :func:`allocate` (shares, amounts, ranks per draw);
* :mod:`~bayes_needs.allocation.damping`: :class:`Damping` and :func:`damp_shares`;
* :mod:`~bayes_needs.allocation.result`: the :class:`Allocation` result, its summary table
  and netCDF files;
* :mod:`~bayes_needs.allocation.decomposition`: :func:`decompose_interval_width`.

The package imports only :mod:`bayes_needs.core`.
"""

from bayes_needs.allocation.damping import Damping, damp_shares
from bayes_needs.allocation.decomposition import decompose_interval_width
from bayes_needs.allocation.inputs import CostWeights, PerLA
from bayes_needs.allocation.result import ALLOCATION_KIND, Allocation
from bayes_needs.allocation.shares import allocate

__all__ = [
    "ALLOCATION_KIND",
    "Allocation",
    "CostWeights",
    "Damping",
    "PerLA",
    "allocate",
    "damp_shares",
    "decompose_interval_width",
]
