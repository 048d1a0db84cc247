"""Synthetic LSOA/MSOA returns of a synthetic panel, from the panel model's generative process.

Under the panel model (:mod:`bayes_needs.models.panel`) an LA's count in a year is the sum of
Poisson counts of its LSOAs with rates proportional to ``w_i exp(z_i . beta_s)`` (``w_i`` the
LSOA's share of the LA's children), so given the LA count the LSOA counts are multinomial
with those probabilities, and an MSOA's probability is the sum over its LSOAs.
:func:`simulate_returns` splits the simulated LA counts of a panel that way, with the true
within-LA coefficients of its :class:`~bayes_needs.simulate.panel.PanelTruth`; a
``dispersion`` draws the probabilities from the Dirichlet of the model's
``dirichlet_multinomial`` returns family instead.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from bayes_needs.core import dims
from bayes_needs.core.errors import ConfigError
from bayes_needs.core.segments import multinomial_split
from bayes_needs.data.covariates import standardise
from bayes_needs.data.geography import as_level
from bayes_needs.data.panel import LA_CODE, PanelData
from bayes_needs.data.panel_returns import PanelReturns
from bayes_needs.simulate.panel import PanelTruth


def within_la_weights(panel: PanelData, beta: np.ndarray) -> np.ndarray:
    """Return ``(lsoa, service)`` weights ``w_i exp(z_i . beta_s)`` of the within-LA split.

    Parameters
    ----------
    panel
        The panel: its LSOA shares and every covariate, standardised as the panel model
        standardises them.
    beta
        ``(service, covariate)`` within-LA coefficients over all of ``panel``'s covariates.

    Raises
    ------
    ConfigError
        If ``beta`` does not have one column per covariate.
    """
    names = panel.covariate_names
    if beta.ndim != 2 or beta.shape[1] != len(names):
        raise ConfigError(f"beta has shape {beta.shape}; expected (service, {len(names)}) for "
                          f"the covariates {list(names)}")
    z = standardise(panel.covariates[list(names)])[0].to_numpy(dtype=float)
    return panel.lsoa_share[:, None] * np.exp(z @ beta.T)


def simulate_returns(panel: PanelData, truth: PanelTruth, las: Sequence[str],
                     services: Sequence[str], years: Sequence[int], level: str,
                     rng: np.random.Generator, *, dispersion: float | None = None
                     ) -> PanelReturns:
    """Split the panel's LA counts over LSOAs (or MSOAs) with the true within-LA probabilities.

    Parameters
    ----------
    panel
        A synthetic panel (:func:`~bayes_needs.simulate.panel.generate_panel`).
    truth
        Its truth; ``truth.beta`` rows follow ``panel.services``.
    las, services, years
        Which LAs, services and years return; an LA-year without a count is skipped.
    level
        ``"lsoa"`` or ``"msoa"``: every area of each returning LA is listed, zeros included.
    rng
        Random generator.
    dispersion
        ``None``: multinomial split. Otherwise the probabilities are Dirichlet with
        concentrations ``N p / dispersion`` (``N`` the LA count), the model's
        ``dirichlet_multinomial`` family.

    Returns
    -------
    PanelReturns
        The returns, validated against ``panel``.

    Raises
    ------
    ConfigError
        On an unknown level, LA, service or year, or a truth that does not match the panel.
    """
    if level not in (dims.LSOA, dims.MSOA):
        raise ConfigError(f"level must be 'lsoa' or 'msoa', got {level!r}")
    geo, unit = panel.geography, as_level(level)
    unknown = ([la for la in las if la not in set(geo.la_codes)]
               + [s for s in services if s not in panel.services]
               + [y for y in years if y not in panel.years])
    if unknown:
        raise ConfigError(f"LA(s), service(s) or year(s) {unknown} are not in the panel")
    if truth.beta.shape[0] != len(panel.services):
        raise ConfigError(f"truth.beta has {truth.beta.shape[0]} service row(s); the panel has "
                          f"{list(panel.services)}")
    weight = within_la_weights(panel, truth.beta)
    parent = geo.parent_index(dims.LSOA, unit)
    area_weight = np.stack([np.bincount(parent, weights=weight[:, j],
                                        minlength=geo.size(unit))
                            for j in range(weight.shape[1])], axis=1)
    area_la = geo.parent_index(unit, dims.LA)
    codes = geo.codes(unit)
    la_index = {code: i for i, code in enumerate(geo.la_codes)}
    frames = []
    for service in services:
        j = panel.services.index(service)
        grid = panel.counts[service].to_numpy(dtype=float)
        for year in years:
            totals, areas, group = [], [], []
            for la in las:
                count = grid[la_index[la], panel.years.index(int(year))]
                if not np.isfinite(count):
                    continue
                members = np.flatnonzero(area_la == la_index[la])
                totals.append(int(count))
                areas.append(members)
                group.append(np.full(len(members), len(totals) - 1))
            if not totals:
                continue
            pos, groups, n = np.concatenate(areas), np.concatenate(group), np.asarray(totals)
            expected = area_weight[pos, j]
            if dispersion is not None:
                share = expected / np.bincount(groups, weights=expected)[groups]
                expected = rng.gamma(share * n[groups] / dispersion)
            split = multinomial_split(n, expected, groups, rng)
            frames.append(pd.DataFrame({
                dims.SERVICE: service, "level": level, "area_code": codes[pos],
                LA_CODE: geo.la_codes[area_la[pos]], dims.YEAR: int(year), "count": split}))
    if not frames:
        raise ConfigError("no LA count to split: every chosen LA-year is missing")
    return PanelReturns.from_frame(pd.concat(frames, ignore_index=True), panel,
                                   source=f"synthetic returns of {panel.source}")
