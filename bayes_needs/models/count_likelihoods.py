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
from pytensor.tensor.xlogx import xlogy0
from scipy.special import gammaln


def log_rising_factorial(base, counts: np.ndarray, max_unrolled: int = 16):
    """``log Γ(base + counts) - log Γ(base)`` elementwise, for data ``counts`` >= 0.

    Equal to ``sum_{j < count} log(base + j)``.

    * ``base`` a scalar: ``gammaln`` at each distinct count, then gathered.
    * ``base`` a vector (one per count): the first ``K`` factors are multiplied out with data
      masks (one ``log`` per element) and only elements with counts above ``K`` add
      ``log Γ(base + count) - log Γ(base + K)``. ``K`` is the 90th percentile of the
      positive counts, capped at ``max_unrolled``; the product stays below
      ``(base + K)^K``, far from overflow for any plausible base.

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
        per_count = pt.gammaln(base + distinct.astype(float)) - pt.gammaln(base)
        return per_count[index]
    positive = counts[counts > 0]
    if not len(positive):
        return pt.zeros_like(base)
    unrolled = int(min(max_unrolled, max(1, np.quantile(positive, 0.9))))
    product = 1.0
    for j in range(unrolled):
        mask = (counts > j).astype(float)
        product = product * (1.0 + mask * (base + (j - 1.0)))
    out = pt.log(product)
    high = np.flatnonzero(counts > unrolled)
    if len(high):
        tail = (pt.gammaln(base[high] + counts[high].astype(float))
                - pt.gammaln(base[high] + float(unrolled)))
        out = pt.inc_subtensor(out[high], tail)
    return out


def negative_binomial_logp(counts: np.ndarray, mu, alpha):
    """Elementwise NB log-density of data ``counts`` (mean ``mu``, shape ``alpha``).

    The parameterisation of :class:`pymc.NegativeBinomial` (``Var = mu + mu^2 / alpha``);
    ``alpha`` a scalar or one per count.
    """
    counts = np.asarray(counts)
    y = counts.astype(float)
    # xlogy0, as in PyMC's own NB: a zero count in an area with zero exposure adds 0.
    return (log_rising_factorial(alpha, counts) - gammaln(y + 1.0)
            + alpha * pt.log(alpha / (alpha + mu)) + xlogy0(y, mu / (alpha + mu)))
