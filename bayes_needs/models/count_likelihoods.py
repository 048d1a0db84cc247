"""Count log-likelihood kernels that are cheap to differentiate.

Service counts per small area are mostly small, so ``log Γ(base + y) - log Γ(base)`` (the
part of negative-binomial and Dirichlet-multinomial log-densities that depends on a
parameter) is computed as a product of the few factors ``base + j`` rather than with
``gammaln``, whose gradient needs ``digamma``: several times faster per element. For a scalar
base, the term depends only on the count, so it is computed once per distinct count.
"""

from __future__ import annotations

import numpy as np
import pytensor.tensor as pt
from scipy.special import gammaln

from bayes_needs.models.kernels import log_rising_factorial_vector


def log_rising_factorial(base, counts: np.ndarray):
    """``log Γ(base + counts) - log Γ(base)`` elementwise, for data ``counts`` >= 0.

    Equal to ``sum_{j < count} log(base + j)``.

    * ``base`` a scalar: the same Op at each distinct count, then gathered. Not ``gammaln``:
      its gradient, ``digamma``, has no numba cache key in pytensor, and one such Op makes
      every nutpie fit recompile the whole graph (tests/models/test_numba_cache.py).
    * ``base`` a vector (one per count): the compiled
      :class:`~bayes_needs.models.kernels.LogRisingFactorial`, which multiplies the factors
      out (one ``log`` per element, ``lgamma`` only for counts above 64) and returns the
      derivative from the same pass.

    Parameters
    ----------
    base
        Tensor > 0: a scalar or a vector the length of ``counts``.
    counts
        Non-negative whole numbers (data, not a tensor).
    """
    counts = np.asarray(counts)
    base = pt.as_tensor(base)
    if base.ndim == 0:
        distinct, index = np.unique(counts, return_inverse=True)
        per_count = log_rising_factorial_vector(pt.broadcast_to(base, distinct.shape), distinct)
        return per_count[index]
    return log_rising_factorial_vector(base, counts)


def negative_binomial_logp(counts: np.ndarray, mu, alpha):
    """Elementwise NB log-density of data ``counts`` (mean ``mu``, shape ``alpha``).

    The parameterisation of :class:`pymc.NegativeBinomial` (``Var = mu + mu^2 / alpha``);
    ``alpha`` a scalar or one per count.
    """
    counts = np.asarray(counts)
    y = counts.astype(float)
    # A zero count contributes no y * log term (so a zero count in an area with zero
    # exposure adds 0, as xlogy0 does in PyMC's own NB); the switch on data, rather than
    # xlogy0, compiles in every backend.
    success = pt.switch(counts > 0, mu / (alpha + mu), 1.0)
    return (log_rising_factorial(alpha, counts) - gammaln(y + 1.0)
            + alpha * pt.log(alpha / (alpha + mu)) + y * pt.log(success))
