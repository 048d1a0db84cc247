"""Posterior -> expected-need draws, one module per approach.

:mod:`bayes_needs.need.area` serves area-model fits, :mod:`bayes_needs.need.person`
person-model fits; :func:`expected_need` picks the one that matches the model.
"""

from __future__ import annotations

import arviz as az
import xarray as xr

from bayes_needs.config.models import Standardisation
from bayes_needs.models.area import AreaDemandModel
from bayes_needs.models.person import PersonDemandModel
from bayes_needs.need import area, person


def expected_need(model: AreaDemandModel | PersonDemandModel, idata: az.InferenceData, *,
                  random_seed: int, standardise: Standardisation = "la") -> xr.Dataset:
    """Draw expected need per LA and service from a fit of either demand model.

    Parameters
    ----------
    model
        The fitted :class:`~bayes_needs.models.area.AreaDemandModel` or
        :class:`~bayes_needs.models.person.PersonDemandModel`.
    idata
        Its fit.
    random_seed
        Seed for the posterior draws of small-area effects and predictive counts.
    standardise
        ``"la"`` (default), ``"none"`` or ``"all"``.

    Returns
    -------
    xarray.Dataset
        ``need``, ``fitted`` (dims chain, draw, la, service) and ``observed``; see
        :func:`bayes_needs.need.area.expected_need` and
        :func:`bayes_needs.need.person.expected_need`.
    """
    if isinstance(model, PersonDemandModel):
        return person.expected_need(model, idata, random_seed=random_seed,
                                    standardise=standardise)
    return area.expected_need(model, idata, random_seed=random_seed, standardise=standardise)


__all__ = ["expected_need"]
