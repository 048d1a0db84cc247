"""A seeded synthetic geography: LSOA -> MSOA -> LA nesting, child populations, deprivation.

:func:`generate_geography` builds the nesting and its LSOA table (population and the
covariates :data:`COVARIATES`) that :func:`bayes_needs.simulate.area.generate_area` simulates
counts on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple

import numpy as np
import pandas as pd
from scipy.special import expit

from bayes_needs.core.errors import ConfigError
from bayes_needs.data.geography import Geography
from bayes_needs.simulate.streams import GEOGRAPHY, check_seed, stage_rng

__all__ = ["COVARIATES", "EXPOSURE_COLUMN", "SyntheticGeography", "generate_geography"]

Scale = Literal["tiny", "region", "england"]

#: Covariate columns of the LSOA table.
COVARIATES: tuple[str, ...] = ("idaci", "imd")
#: Exposure (child population) column of the LSOA table.
EXPOSURE_COLUMN = "children"


@dataclass(frozen=True)
class _ScaleSpec:
    n_la: int
    n_msoa: int  # target total
    msoa_per_la_sd: float  # sd of log MSOAs per LA
    min_msoa_per_la: int
    max_msoa_per_la: int


_SCALES: dict[str, _ScaleSpec] = {
    "tiny": _ScaleSpec(8, 60, 0.3, 4, 20),
    "region": _ScaleSpec(12, 530, 0.6, 2, 215),
    "england": _ScaleSpec(153, 6790, 0.6, 2, 215),
}
#: Probabilities of 3..8 LSOAs per MSOA (mean 4.85, as in England).
_LSOAS_PER_MSOA = np.arange(3, 9)
_LSOAS_PER_MSOA_P = np.array([0.12, 0.32, 0.29, 0.16, 0.08, 0.03])
_MEAN_CHILDREN = 365.0
_MIN_CHILDREN = 20


def _scale_spec(scale: str) -> _ScaleSpec:
    """Return the size specification of a named scale."""
    if scale not in _SCALES:
        raise ConfigError(f"unknown scale {scale!r}; expected one of {list(_SCALES)}")
    return _SCALES[scale]


class SyntheticGeography(NamedTuple):
    """A synthetic nesting and its LSOA table.

    Attributes
    ----------
    geography
        The LSOA -> MSOA -> LA nesting, canonical order.
    lsoa_table
        One row per LSOA in canonical order: ``lsoa_code, msoa_code, la_code, children``
        (child population 0-17, int64), ``idaci`` (proportion of children in income-deprived
        families) and ``imd`` (IMD-like score, 0-90).
    """

    geography: Geography
    lsoa_table: pd.DataFrame


def generate_geography(scale: Scale = "tiny", *, random_seed: int) -> SyntheticGeography:
    """Generate a synthetic geography with child populations and deprivation covariates.

    Parameters
    ----------
    scale
        ``"tiny"`` (8 LAs, ~60 MSOAs, ~300 LSOAs), ``"region"`` (12 LAs, ~530 MSOAs) or
        ``"england"`` (153 LAs, ~6,800 MSOAs, ~33,000 LSOAs).
    random_seed
        Seed; the same seed always gives the same geography.

    Returns
    -------
    SyntheticGeography
        ``(geography, lsoa_table)``; unpack it or use the attributes.

    Notes
    -----
    MSOAs per LA are lognormal (normalised to the scale's national total, so about 190 LSOAs
    per LA at the median at ``england`` scale), LSOAs per MSOA are 3-8 with mean 4.85. The
    deprivation latent is a sum of independent LA, MSOA and LSOA normal components; ``idaci``
    is its logistic transform (mean ~0.17, right-skewed, max ~0.7) and ``imd`` a logistic
    transform of a latent with correlation 0.87 to it (raw correlation ~0.85). Child
    populations are lognormal (mean ~365, log sd ~0.3) rising slightly with deprivation.
    """
    spec = _scale_spec(scale)
    rng = stage_rng(check_seed(random_seed), GEOGRAPHY)

    weight = rng.lognormal(0.0, spec.msoa_per_la_sd, spec.n_la)
    msoa_per_la = np.clip(np.rint(weight / weight.sum() * spec.n_msoa).astype(np.int64),
                          spec.min_msoa_per_la, spec.max_msoa_per_la)
    msoa_to_la = np.repeat(np.arange(spec.n_la), msoa_per_la)
    n_msoa = len(msoa_to_la)
    lsoa_per_msoa = rng.choice(_LSOAS_PER_MSOA, size=n_msoa, p=_LSOAS_PER_MSOA_P)
    lsoa_to_msoa = np.repeat(np.arange(n_msoa), lsoa_per_msoa)
    lsoa_to_la = msoa_to_la[lsoa_to_msoa]
    n_lsoa = len(lsoa_to_msoa)

    # Variance shares of the deprivation latent: LA, MSOA, LSOA.
    component_sd = np.array([0.45, 0.5, 0.45])
    component_sd /= np.sqrt(np.sum(component_sd**2))

    def spatial_latent() -> np.ndarray:
        return (component_sd[0] * rng.standard_normal(spec.n_la)[lsoa_to_la]
                + component_sd[1] * rng.standard_normal(n_msoa)[lsoa_to_msoa]
                + component_sd[2] * rng.standard_normal(n_lsoa))

    deprivation = spatial_latent()
    imd_latent = 0.87 * deprivation + np.sqrt(1 - 0.87**2) * spatial_latent()
    idaci = expit(-1.7 + 0.6 * deprivation)
    imd = 90.0 * expit(np.log(0.2 / 0.8) + 0.9 * imd_latent)

    log_children_sd = np.array([0.08, 0.10, 0.27])  # deprivation, LA, LSOA
    log_median = np.log(_MEAN_CHILDREN) - 0.5 * np.sum(log_children_sd**2)
    log_children = (log_median + log_children_sd[0] * deprivation
                    + log_children_sd[1] * rng.standard_normal(spec.n_la)[lsoa_to_la]
                    + log_children_sd[2] * rng.standard_normal(n_lsoa))
    children = np.maximum(np.rint(np.exp(log_children)), _MIN_CHILDREN).astype(np.int64)

    la_codes = np.array([f"SLA{i + 1:04d}" for i in range(spec.n_la)], dtype=object)
    msoa_codes = np.array([f"SMS{i + 1:05d}" for i in range(n_msoa)], dtype=object)
    lsoa_codes = np.array([f"SLS{i + 1:06d}" for i in range(n_lsoa)], dtype=object)
    frame = pd.DataFrame({
        "lsoa_code": lsoa_codes,
        "lsoa_name": [f"Synthetic LSOA {i + 1:06d}" for i in range(n_lsoa)],
        "msoa_code": msoa_codes[lsoa_to_msoa],
        "msoa_name": np.array([f"Synthetic MSOA {i + 1:05d}" for i in range(n_msoa)],
                              dtype=object)[lsoa_to_msoa],
        "la_code": la_codes[lsoa_to_la],
        "la_name": np.array([f"Synthetic LA {i + 1:03d}" for i in range(spec.n_la)],
                            dtype=object)[lsoa_to_la],
    })
    geography = Geography.from_frame(frame, lsoa_name="lsoa_name", msoa_name="msoa_name",
                                     la_name="la_name", source=f"synthetic {scale} geography")
    lsoa_table = pd.DataFrame({
        "lsoa_code": frame["lsoa_code"], "msoa_code": frame["msoa_code"],
        "la_code": frame["la_code"], EXPOSURE_COLUMN: children, "idaci": idaci, "imd": imd,
    })
    return SyntheticGeography(geography, lsoa_table)
