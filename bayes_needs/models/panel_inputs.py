"""Arrays the panel model is built from: observed log rates, indicators and LSOA clusters.

The needs-indicator term of an LA is ``log sum_i w_i exp(z_i . beta)`` over its LSOAs
(``w_i`` the LSOA's share of the LA's children). Its cost per gradient is one exponential per
LSOA and service, which dominates the panel model's gradient at England scale (33k LSOAs).
Within each LA, LSOAs are therefore pooled into at most :data:`CLUSTERS_PER_LA` clusters of
similar indicators (k-means, seeded), each at its share-weighted mean indicator vector with
the summed share. The term is exact for LAs with no more LSOAs than that, and on the real
England data the pooled term differs from the exact LSOA sum by less than 1e-3 on the log
scale at the fitted coefficients (see ``tests/models/test_panel_inputs.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.cluster.vq import kmeans2

from bayes_needs.data.covariates import standardise
from bayes_needs.data.panel import PanelData

#: Most LSOA clusters per LA in the needs-indicator term.
CLUSTERS_PER_LA = 32
#: Seed of the k-means pooling (a property of the model, not of a fit).
CLUSTER_SEED = 0
#: Added to counts before taking logs (observed log rate ``log((y + 1/2) / E)``).
HALF = 0.5


@dataclass(frozen=True)
class PanelInputs:
    """Everything the panel model's graph needs, as numpy arrays.

    Attributes
    ----------
    years
        The fitted years (up to the last year with counts).
    log_rate
        ``(la, service, year)`` observed ``log((y + 1/2) / E)``, 0 where missing.
    precision
        ``(la, service, year)`` ``y + 1/2``, 0 where missing.
    log_exposure
        ``(la, year)`` log child population.
    log_var_sum, n_obs
        ``(la, service)`` sum of ``log(1 / precision)`` and number of observed years.
    z, z_mean, z_sd
        Standardised LSOA indicators ``(lsoa, indicator)`` and the raw means and sds.
    la_mean
        ``(la, indicator)`` share-weighted LA means of ``z`` (the contextual terms).
    point_z, point_share, point_la
        LSOA clusters: indicators centred on their LA mean, share of the LA, LA index.
    deprivation_sd_slope, deprivation_decile_gap
        ``(indicator,)``: covariance of each indicator with the standardised composite
        deprivation (mean of ``z``), and the gap between the mean ``z`` of the most and the
        least deprived composite deciles (external evidence on the gradient).
    """

    years: tuple[int, ...]
    log_rate: np.ndarray
    precision: np.ndarray
    log_exposure: np.ndarray
    log_var_sum: np.ndarray
    n_obs: np.ndarray
    z: np.ndarray
    z_mean: pd.Series
    z_sd: pd.Series
    la_mean: np.ndarray
    point_z: np.ndarray
    point_share: np.ndarray
    point_la: np.ndarray
    deprivation_sd_slope: np.ndarray
    deprivation_decile_gap: np.ndarray

    def crude_log_rate(self) -> np.ndarray:
        """Return ``(service, year)`` mean observed log rates (start values), -4 if none."""
        observed = self.precision > 0
        total = np.where(observed, self.log_rate, 0.0).sum(axis=0)
        count = observed.sum(axis=0)
        overall = np.where(count.sum(axis=1) > 0,
                           total.sum(axis=1) / np.maximum(count.sum(axis=1), 1), -4.0)
        return np.where(count > 0, total / np.maximum(count, 1), overall[:, None])


def panel_inputs(data: PanelData, indicators: tuple[str, ...], services: tuple[str, ...],
                 *, clusters_per_la: int = CLUSTERS_PER_LA) -> PanelInputs:
    """Build :class:`PanelInputs` for the years up to the panel's last count year.

    Parameters
    ----------
    data
        The panel.
    indicators
        Needs indicators to use (columns of ``data.covariates``).
    services
        Services, in model order.
    clusters_per_la
        Most LSOA clusters per LA.
    """
    years = tuple(y for y in data.years if y <= data.last_count_year)
    counts = data.counts_array(services)[:, :len(years)]              # (la, year, s)
    exposure = data.exposure_array()[:, :len(years)]
    observed = np.isfinite(counts)
    safe = np.where(observed, counts, 0.0)
    precision = np.where(observed, safe + HALF, 0.0)
    log_rate = np.where(observed, np.log((safe + HALF) / exposure[:, :, None]), 0.0)
    log_var = np.where(observed, -np.log(np.where(observed, precision, 1.0)), 0.0)
    to_lss = (0, 2, 1)
    if indicators:
        frame, z_mean, z_sd = standardise(data.covariates[list(indicators)])
        z = frame.to_numpy(dtype=float)
    else:
        z = np.zeros((data.geography.n_lsoa, 0))
        z_mean = z_sd = pd.Series(dtype=float)
    geo = data.geography
    share = data.lsoa_share
    la_mean = np.stack([np.bincount(geo.lsoa_to_la, weights=share * z[:, k],
                                    minlength=geo.n_la) for k in range(z.shape[1])], axis=1) \
        if z.shape[1] else np.zeros((geo.n_la, 0))
    centred = z - la_mean[geo.lsoa_to_la]
    point_z, point_share, point_la = _cluster(centred, share, geo.lsoa_to_la, geo.n_la,
                                              clusters_per_la)
    slope, gap = _deprivation_contrasts(z, data.lsoa_weight)
    return PanelInputs(years=years, log_rate=log_rate.transpose(to_lss),
                       precision=precision.transpose(to_lss), log_exposure=np.log(exposure),
                       log_var_sum=log_var.sum(axis=1), n_obs=observed.sum(axis=1),
                       z=z, z_mean=z_mean, z_sd=z_sd, la_mean=la_mean, point_z=point_z,
                       point_share=point_share, point_la=point_la,
                       deprivation_sd_slope=slope, deprivation_decile_gap=gap)


def _cluster(centred: np.ndarray, share: np.ndarray, lsoa_to_la: np.ndarray, n_la: int,
             k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pool each LA's LSOAs into at most ``k`` share-weighted clusters (seeded k-means)."""
    rng = np.random.default_rng(CLUSTER_SEED)
    points, shares, las = [], [], []
    order = np.argsort(lsoa_to_la, kind="stable")
    starts = np.searchsorted(lsoa_to_la[order], np.arange(n_la + 1))
    for la in range(n_la):
        members = order[starts[la]:starts[la + 1]]
        members = members[share[members] > 0]
        if len(members) <= k or centred.shape[1] == 0:
            labels = np.arange(len(members))
        else:
            _, labels = kmeans2(centred[members], k, seed=rng, minit="++")
        weight = share[members]
        total = np.bincount(labels, weights=weight)
        used = np.flatnonzero(total > 0)
        mean = np.stack([np.bincount(labels, weights=weight * centred[members, j])[used]
                         for j in range(centred.shape[1])], axis=1) / total[used, None] \
            if centred.shape[1] else np.zeros((len(used), 0))
        points.append(mean)
        shares.append(total[used])
        las.append(np.full(len(used), la))
    return np.concatenate(points), np.concatenate(shares), np.concatenate(las)


def _deprivation_contrasts(z: np.ndarray, weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-SD slope and top-bottom decile gap of each indicator against the composite."""
    if z.shape[1] == 0:
        return np.zeros(0), np.zeros(0)
    composite = z.mean(axis=1)
    w = weight / weight.sum()
    centre = np.sum(w * composite)
    sd = np.sqrt(np.sum(w * (composite - centre) ** 2))
    standard = (composite - centre) / sd
    z_centre = (w[:, None] * z).sum(axis=0)
    slope = (w[:, None] * (z - z_centre) * standard[:, None]).sum(axis=0)
    cuts = np.quantile(composite, [0.1, 0.9])
    low, high = composite <= cuts[0], composite >= cuts[1]
    gap = (np.average(z[high], axis=0, weights=weight[high])
           - np.average(z[low], axis=0, weights=weight[low]))
    return slope, gap
