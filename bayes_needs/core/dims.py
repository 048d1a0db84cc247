"""Canonical dimension and coordinate names used by every PyMC variable and xarray object.

Import names from here rather than typing string literals, so a dim can never drift
between the model, the allocation maths and the saved files.
"""

from __future__ import annotations

from typing import Final

CHAIN = "chain"
DRAW = "draw"
SAMPLE = "sample"  # stacked (chain, draw)
#: The dims posterior draws run over; summaries reduce over both jointly.
SAMPLE_DIMS: tuple[str, str] = (CHAIN, DRAW)

# Final, so type checkers see the literal level names ``Geography`` methods accept.
LSOA: Final = "lsoa"
MSOA: Final = "msoa"
LA: Final = "la"
LEVELS: tuple[str, ...] = (LSOA, MSOA, LA)

SERVICE = "service"
SERVICE_B = "service_b"  # second service dim of correlation matrices
SERVICE_PAIR = "service_pair"  # pairs of services (upper triangle of a correlation matrix)
COVARIATE = "covariate"
ACTIVITY = "activity"
CATEGORY = "category"
SCENARIO = "scenario"
CELL = "cell"
AGE_BAND = "age_band"
SEX = "sex"
QUANTITY = "quantity"
FSM = "fsm"
LA_NAME = "la_name"  # non-index name coordinate on the ``la`` dim
PLACEMENT = "placement"  # looked-after placement type of a latent LA placement mix
CHILD_TERM = "child_term"  # treatment-coded child covariate levels (person model)
PATTERN = "pattern"  # distinct child covariate patterns (person model)
YEAR = "year"  # DfE reporting year (to or on 31 March) of a panel
FORECAST_YEAR = "forecast_year"  # years after the last data year (panel forecasts)
HORIZON = "horizon"  # years ahead of a forecast origin
ORIGIN = "origin"  # last data year of a rolling-origin backtest fit
CASE = "case"  # one scored forecast (LA x service x origin x horizon) of a backtest

#: Every dim name a prior file may mention.
CANONICAL_DIMS: frozenset[str] = frozenset(
    {CHAIN, DRAW, SAMPLE, LSOA, MSOA, LA, SERVICE, COVARIATE, ACTIVITY, CATEGORY, SCENARIO,
     CELL, AGE_BAND, SEX, QUANTITY, SERVICE_B, FSM, PLACEMENT, CHILD_TERM, PATTERN, YEAR,
     FORECAST_YEAR, HORIZON, ORIGIN}
)

#: Services the synthetic generator and the DfE readers know about, in canonical order.
REFERRALS = "referrals"
CIN = "cin"
CPP = "cpp"
CLA = "cla"
CLA_WEEKS = "cla_weeks"
SERVICES: tuple[str, ...] = (REFERRALS, CIN, CPP, CLA, CLA_WEEKS)

#: Observation levels of a service in an LA; ``NONE`` means not observed there.
NONE = "none"
OBSERVATION_LEVELS: tuple[str, ...] = (LSOA, MSOA, LA, NONE)


def observation_dim(service: str, level: str) -> str:
    """Dim name of the vector of observations of ``service`` at ``level`` in a PyMC model."""
    return f"{service}_{level}_obs"


def level_observation_dim(level: str) -> str:
    """Dim name of every service's observations at ``level`` in a saved fit.

    Its index coordinate holds each observation's service (repeated, sorted by service), so
    ``arviz.plot_ppc(..., coords={level_observation_dim(level): [service]})`` selects one.
    """
    return f"{level}_obs"


#: Dim of the LSOA split terms of a saved fit's log-likelihood: one per MSOA whose LSOA
#: counts are split (summed over its LSOAs, a density of the MSOA's LSOA counts).
LSOA_SPLIT = "lsoa_split"
#: Non-index coordinate on :data:`LSOA_SPLIT`: the MSOA whose LSOA counts are split.
SPLIT_MSOA = "split_msoa"
