"""LSOA and MSOA returns in the panel model: the split of each returned total.

In the panel model (:mod:`bayes_needs.models.panel`) the count of service ``s`` in LSOA ``i``
of LA ``l`` in year ``t`` has rate ``E_lt * exp(level_ts + u_ls + d_lts + zbar_l . gamma_s)
* w_i exp(z_i . beta_s)`` (``w_i`` the LSOA's share of the LA's children). Given the total
``N`` of the areas an LA returned for a service and year, Poisson counts split
multinomially with probabilities::

    p_a = W_a / sum_b W_b,   W_a = sum_{i in a} w_i exp(z_i . beta_s)

over the returned areas ``a`` (an LSOA, or the LSOAs of an MSOA). The national level, the LA
effect ``u``, the AR(1) deviation ``d`` and the contextual term cancel, so the split depends
on the within-LA coefficients ``beta`` alone and is independent of the LA states the panel
likelihood integrates out: it is simply added. Conditioning on the returned total also
means an LA need not return every area, and the returned totals need not match the LA
counts of the panel (they are often from another source).

``z`` are the exact LSOA indicators, standardised as :func:`~bayes_needs.models.panel_inputs.
panel_inputs` standardises them (its ``z``), not the LSOA clusters of the LA-total term.

``returns_family = "dirichlet_multinomial"`` (a model option) adds small-area variation
beyond Poisson: the areas' concentrations are ``N p_a / returns_dispersion_s``, so an area's
count has variance about ``N p_a (1 + returns_dispersion_s)`` (NB1 type, as the area model's
``lsoa_dispersion``), with the prior ``returns_dispersion`` of ``priors/panel.toml``.

The likelihoods are those of the area model's LSOA split
(:func:`~bayes_needs.models.area_likelihood.split_likelihood`, one group per LA, service and
year instead of per MSOA), added as one :class:`pymc.CustomDist` per service and level,
observed ``obs_returns_<service>_<level>`` with dim ``<service>_<level>_obs``: one value per
returned count (a group's normalising term sits on its first count), so
:func:`pymc.compute_log_likelihood` gives a pointwise log-likelihood whose sums over each LA,
service and year are the split log-likelihoods, and posterior predictive draws re-split the
returned totals.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt
from pymc_extras.prior import Prior

from bayes_needs.config.models import DIRICHLET_MULTINOMIAL, RETURNS_FAMILIES
from bayes_needs.core import dims
from bayes_needs.core.errors import ConfigError
from bayes_needs.data.geography import Geography, Level
from bayes_needs.data.panel import LA_CODE, PanelData
from bayes_needs.data.panel_returns import PanelReturns
from bayes_needs.models.area_likelihood import _dirichlet_multinomial_split, _multinomial_split
from bayes_needs.models.area_observations import ServiceObservations
from bayes_needs.models.kernels import segment_sum

#: Prior of the Dirichlet-multinomial dispersion (``priors/panel.toml``).
DISPERSION = "returns_dispersion"


@dataclass(frozen=True)
class SplitLayout:
    """The returns of one service at one level, laid out for the split likelihood.

    Attributes
    ----------
    service, level
        Which returns.
    labels
        ``"<area_code> <year>"`` of each returned count (the observation coordinate).
    counts
        ``(count,)`` returned counts, grouped by LA and year (groups contiguous).
    group, group_count
        Each count's group (LA and year, numbered from 0 in order) and each group's total.
    area, n_area
        Each count's area (index into the distinct returned areas) and their number.
    member_lsoa, member_area
        Every LSOA of every distinct area (geography positions) and its area.
    """

    service: str
    level: str
    labels: list[str]
    counts: np.ndarray
    group: np.ndarray
    group_count: np.ndarray
    area: np.ndarray
    n_area: int
    member_lsoa: np.ndarray
    member_area: np.ndarray

    def observations(self) -> ServiceObservations:
        """Return the layout in the area model's form (an MSOA there, an LA-year here)."""
        return ServiceObservations(lsoa_count=self.counts, lsoa_group=self.group,
                                   split_msoa_count=self.group_count)


def split_layouts(returns: PanelReturns, data: PanelData, services: Sequence[str],
                  years: Sequence[int]) -> list[SplitLayout]:
    """Lay out the returns of ``services`` in ``years`` by service and level.

    Groups whose returned total is 0 carry no information and are left out, and so are
    areas without children (their count is 0: validation says so).

    Parameters
    ----------
    returns
        The validated returns.
    data
        The panel they were validated against.
    services, years
        The model's services and fitted years; other returns are ignored.

    Returns
    -------
    list of SplitLayout
        One per service and level with returns, in service order.

    Raises
    ------
    ConfigError
        If the returns were validated against another geography.
    """
    returns.checked_for(data)
    geo = data.geography
    table = returns.restrict(services, years).table
    out = []
    for service in services:
        for level in (dims.LSOA, dims.MSOA):
            t = table[(table[dims.SERVICE] == service) & (table["level"] == level)]
            if len(t):
                layout = _layout(t, service, level, geo, data.lsoa_share)
                if layout is not None:
                    out.append(layout)
    return out


def _layout(t: pd.DataFrame, service: str, level: Level, geo: Geography,
            share: np.ndarray) -> SplitLayout | None:
    """One service and level's layout (``t`` sorted by year, LA, area), or None if empty."""
    pos = geo.position(level, t["area_code"].to_numpy(dtype=object))
    parent = geo.parent_index(dims.LSOA, level)
    area_weight = np.bincount(parent, weights=share, minlength=geo.size(level))
    # Rows are sorted by year and LA, so each group (LA and year) is a run of rows.
    year, la = t[dims.YEAR].to_numpy(), t[LA_CODE].to_numpy(dtype=object)
    new = np.r_[True, (year[1:] != year[:-1]) | (la[1:] != la[:-1])]
    group = np.cumsum(new) - 1
    counts = t["count"].to_numpy(dtype=np.int64)
    group_count = np.bincount(group, weights=counts).astype(np.int64)
    keep = (group_count[group] > 0) & (area_weight[pos] > 0)
    if not keep.any():
        return None
    pos, counts, t = pos[keep], counts[keep], t[keep]
    _, group = np.unique(group[keep], return_inverse=True)
    group_count = np.bincount(group, weights=counts).astype(np.int64)
    distinct, area = np.unique(pos, return_inverse=True)
    members = np.flatnonzero(np.isin(parent, distinct))
    member_area = np.searchsorted(distinct, parent[members])
    labels = [f"{a} {y}" for a, y in zip(t["area_code"], t[dims.YEAR], strict=True)]
    return SplitLayout(service=service, level=level, labels=labels, counts=counts,
                       group=group.astype(np.int64), group_count=group_count,
                       area=area.astype(np.int64), n_area=len(distinct),
                       member_lsoa=members, member_area=member_area.astype(np.int64))


def area_weights(layout: SplitLayout, z: np.ndarray, beta_s, share: np.ndarray):
    """Tensor ``(area,)`` of ``W_a = sum_{i in a} w_i exp(z_i . beta_s)``.

    Parameters
    ----------
    layout
        The returns of one service and level.
    z
        ``(lsoa, indicator)`` standardised LSOA indicators (geography order).
    beta_s
        Tensor ``(indicator,)``: the service's within-LA coefficients.
    share
        ``(lsoa,)`` each LSOA's share of its LA's children.
    """
    # An elementwise product, not a dot: pytensor's matrix-vector product with a few
    # columns runs in Python and costs several times more per gradient.
    eta = pt.sum(pt.as_tensor(z[layout.member_lsoa]) * beta_s[None, :], axis=1)
    spread = pt.as_tensor(share[layout.member_lsoa]) * pt.exp(eta)
    if layout.level == dims.LSOA:  # each area is its one LSOA, in order
        return spread
    return segment_sum(spread, layout.member_area, layout.n_area)


def returns_likelihood(returns: PanelReturns, data: PanelData, z: np.ndarray, beta, *,
                       services: Sequence[str], years: Sequence[int],
                       family: str = "multinomial",
                       priors: Mapping[str, Prior] | None = None) -> tuple[str, ...]:
    """Add the split likelihood of the returns to the model on the context stack.

    Parameters
    ----------
    returns
        The validated returns (validated against ``data``).
    data
        The panel.
    z
        ``(lsoa, indicator)`` standardised LSOA indicators in the model's indicator order
        (:attr:`~bayes_needs.models.panel_inputs.PanelInputs.z`).
    beta
        Tensor ``(service, indicator)`` of within-LA coefficients, or ``None`` when the
        model has no indicators (the split then has no parameter but the dispersion).
    services, years
        The model's services (the rows of ``beta``) and fitted years.
    family
        ``"multinomial"`` or ``"dirichlet_multinomial"``.
    priors
        The model's priors; the latter family needs ``returns_dispersion``.

    Returns
    -------
    tuple of str
        Names of the observed variables added (none without returns in ``years``).

    Raises
    ------
    ConfigError
        On an unknown family, a missing dispersion prior, or returns validated against
        another geography.
    """
    if family not in RETURNS_FAMILIES:
        raise ConfigError(f"returns_family must be one of {list(RETURNS_FAMILIES)}, got "
                          f"{family!r}")
    layouts = split_layouts(returns, data, services, years)
    if not layouts:
        return ()
    services = list(services)
    if beta is None:
        beta = pt.zeros((len(services), 0))
    dispersion = None
    if family == DIRICHLET_MULTINOMIAL:
        if priors is None or DISPERSION not in priors:
            raise ConfigError(f"returns_family = {family!r} needs the prior {DISPERSION!r}")
        dispersion = priors[DISPERSION].create_variable(DISPERSION)
    model = pm.modelcontext(None)
    share = data.lsoa_share
    names = []
    for layout in layouts:
        j = services.index(layout.service)
        element = area_weights(layout, z, beta[j], share)[layout.area]
        total = segment_sum(element, layout.group, len(layout.group_count))[layout.group]
        obs = layout.observations()
        params: tuple[Any, ...]
        if dispersion is None:
            params = (pt.log(element), total)
            logp, random = _multinomial_split(obs)
        else:
            # Expected counts given the returned total set the concentrations' scale.
            returned = layout.group_count[layout.group].astype(float)
            params = (element / total * returned, returned, dispersion[j])
            logp, random = _dirichlet_multinomial_split(obs)
        dim = dims.observation_dim(layout.service, layout.level)
        model.add_coord(dim, layout.labels)
        name = f"obs_returns_{layout.service}_{layout.level}"
        pm.CustomDist(name, *params, logp=logp, random=random, observed=layout.counts,
                      dtype="int64", dims=dim)
        names.append(name)
    return tuple(names)
