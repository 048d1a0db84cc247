"""CF-style ``units`` and ``long_name`` of the variables and table columns we write.

One table, :data:`VARIABLES`, describes every quantity by name; netCDF variables and
coordinates get the attributes with :func:`annotate`, and CSV columns in their metadata
sidecar with :func:`column_attrs` (a column ``share_lower`` is the ``share`` variable's lower
interval bound). Money is in the pot's currency (``allocation.currency``), so its ``units``
are filled in per call. Units follow the CF conventions: ``"1"`` is dimensionless and
``"1e-4"`` a rate per 10,000.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

import xarray as xr

from bayes_needs.core import defaults, dims

#: Stand-in ``units`` of a money quantity, replaced by the currency of the call.
MONEY: Final = "<currency>"
#: The packaged unit-cost tables are priced in pounds sterling, whatever the pot's currency.
UNIT_COST_CURRENCY: Final = "GBP"
#: Children counted by an exposure: a count, so dimensionless in CF terms.
CHILDREN: Final = "1"
#: Rates per 10,000 children.
PER_10K: Final = "1e-4"

#: Variable or column name -> (units, long_name); ``None`` units for labels.
VARIABLES: Mapping[str, tuple[str | None, str]] = MappingProxyType({
    # coordinates
    dims.LA: (None, "local authority code (ONS)"),
    dims.LA_NAME: (None, "local authority name"),
    "la_code": (None, "local authority code (ONS)"),
    dims.SERVICE: (None, "children's service"),
    dims.YEAR: (None, "reporting year (to 31 March)"),
    dims.ACTIVITY: (None, "costed activity"),
    dims.SCENARIO: (None, "sensitivity scenario"),
    dims.CHAIN: (None, "MCMC chain"),
    dims.DRAW: (None, "MCMC draw"),
    # allocation
    "share": ("1", "share of the national pot"),
    "share_undamped": ("1", "share of the national pot before damping"),
    "baseline_share": ("1", "baseline share of the national pot"),
    "allocation": (MONEY, "allocation from the national pot"),
    "rank": ("1", "rank of the share (1 = largest)"),
    "need": (CHILDREN, "expected need (cases per year)"),
    "weighted_need": ("1", "cost-weighted expected need"),
    "contribution": ("1", "cost-weighted expected need of a service"),
    "cost_weight": ("1", "relative cost weight of a service"),
    "area_cost_adjustment": ("1", "area cost adjustment multiplier"),
    "prob_gain": ("1", "probability that the share exceeds the baseline share"),
    # demand
    "exposure": (CHILDREN, "child population (exposure)"),
    "observed": (CHILDREN, "observed count"),
    "observed_covered": (CHILDREN, "observed count of the children in the records"),
    "needs": (CHILDREN, "needs-standardised expected count"),
    "fitted": (CHILDREN, "fitted (posterior predictive) count"),
    "forecast": (CHILDREN, "forecast (posterior predictive) count"),
    "observed_rate_per_10k": (PER_10K, "observed count per 10,000 children"),
    "needs_rate_per_10k": (PER_10K, "needs-standardised expected count per 10,000 children"),
    "fitted_rate_per_10k": (PER_10K, "fitted count per 10,000 children"),
    "forecast_rate_per_10k": (PER_10K, "forecast count per 10,000 children"),
    # cost weights
    "weight": ("1", "cost weight relative to the reference activity"),
    "unit_cost": (UNIT_COST_CURRENCY, "unit cost at an LA with price factor 1"),
    "prior_unit_cost": (UNIT_COST_CURRENCY, "prior median unit cost"),
    "prior_weight": ("1", "prior median cost weight relative to the reference activity"),
    # sensitivity and convergence
    "rhat_max": ("1", "largest R-hat of the hyperparameters"),
    "ess_bulk_min": ("1", "smallest bulk effective sample size of the hyperparameters"),
    "ess_tail_min": ("1", "smallest tail effective sample size of the hyperparameters"),
    "divergences": ("1", "number of divergent transitions"),
    "bfmi_min": ("1", "smallest Bayesian fraction of missing information"),
    "pareto_k": ("1", "Pareto k-hat of an approximate fit's importance weights (NaN: NUTS)"),
    "importance_ess": ("1", "effective sample size of an approximate fit's importance weights"),
    "converged": (None, "whether the fit passed the convergence gate"),
    "fit_seconds": ("s", "wall time of the fit"),
    "psens_prior": ("1", "power-scaling sensitivity to the prior"),
    "psens_likelihood": ("1", "power-scaling sensitivity to the likelihood"),
})

#: Suffixes of summary columns and how they describe their variable.
STATISTICS: Mapping[str, str] = MappingProxyType({
    "_mean": "posterior mean of {}", "_median": "posterior median of {}",
    "_lower": "lower credible-interval bound of {}",
    "_upper": "upper credible-interval bound of {}",
    "_sd": "posterior standard deviation of {}",
})


def _units(units: str | None, currency: str) -> str | None:
    return currency if units == MONEY else units


def column_attrs(name: str, *, currency: str = defaults.CURRENCY) -> dict[str, str]:
    """Return the ``units`` and ``long_name`` of a variable or summary column, if known.

    Parameters
    ----------
    name
        A variable name (``share``) or a summary column (``share_lower``,
        ``needs_rate_per_10k_mean``).
    currency
        The currency of money quantities.

    Returns
    -------
    dict
        ``units`` (when it has any) and ``long_name``; empty for an unknown name.
    """
    if name in VARIABLES:
        units, long_name = VARIABLES[name]
    else:
        suffix = next((s for s in STATISTICS if name.endswith(s)
                       and name.removesuffix(s) in VARIABLES), None)
        if suffix is None:
            return {}
        units, base = VARIABLES[name.removesuffix(suffix)]
        long_name = STATISTICS[suffix].format(base)
    out = {"long_name": long_name}
    units = _units(units, currency)
    if units is not None:
        out = {"units": units, **out}
    return out


def annotate(dataset: xr.Dataset, *, currency: str = defaults.CURRENCY) -> xr.Dataset:
    """Return ``dataset`` with ``units`` and ``long_name`` on every variable the table knows.

    Attributes a variable already has are kept. ``dataset`` itself is not changed (its data
    are shared, not copied).

    Parameters
    ----------
    dataset
        Variables and coordinates named as in :data:`VARIABLES`.
    currency
        The currency of money quantities.

    Returns
    -------
    xarray.Dataset
        The annotated copy.
    """
    out = dataset.copy(deep=False)
    for name in list(out.variables):
        attrs = column_attrs(str(name), currency=currency)
        if attrs:
            variable = out.variables[name]
            variable.attrs = {**attrs, **variable.attrs}
    return out
