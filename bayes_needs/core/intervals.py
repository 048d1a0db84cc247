"""Credible intervals: the one place intervals are checked, computed and described.

Every interval in the package states its probability and kind explicitly; the defaults are
:data:`bayes_needs.core.defaults.INTERVAL_PROB` and ``INTERVAL_KIND``.
"""

from __future__ import annotations

from typing import Literal, get_args

import arviz as az
import numpy as np
import xarray as xr

from bayes_needs.core import dims
from bayes_needs.core.errors import ConfigError

IntervalKind = Literal["eti", "hdi"]
INTERVAL_KINDS: tuple[str, ...] = get_args(IntervalKind)
# Maps a checked kind onto its literal type, so callers get an ``IntervalKind`` back.
_KINDS: dict[str, IntervalKind] = {"eti": "eti", "hdi": "hdi"}
_KIND_TEXT = {"eti": "equal-tailed", "hdi": "highest-density"}


def check_interval(interval_prob: float, interval_kind: str) -> tuple[float, IntervalKind]:
    """Validate an interval probability in (0, 1) and kind ``"eti"`` or ``"hdi"``.

    Parameters
    ----------
    interval_prob
        Probability mass inside the interval: a real number (not a bool) in (0, 1).
    interval_kind
        ``"eti"`` or ``"hdi"``.

    Returns
    -------
    interval_prob : float
        As a plain float.
    interval_kind : IntervalKind
        As a plain str.

    Raises
    ------
    ConfigError
        Naming ``interval_prob`` or ``interval_kind``, whichever is invalid.
    """
    if isinstance(interval_prob, bool) or not isinstance(interval_prob, int | float | np.number) \
            or not 0.0 < float(interval_prob) < 1.0:
        raise ConfigError(f"interval_prob must be a number strictly between 0 and 1, "
                          f"got {interval_prob!r}")
    if interval_kind not in INTERVAL_KINDS:
        raise ConfigError(f"interval_kind must be one of {list(INTERVAL_KINDS)}, "
                          f"got {interval_kind!r}")
    return float(interval_prob), _KINDS[str(interval_kind)]


def credible_interval(values: xr.DataArray | xr.Dataset, *, interval_prob: float,
                      interval_kind: IntervalKind, integer: bool = False
                      ) -> tuple[xr.DataArray | xr.Dataset, xr.DataArray | xr.Dataset]:
    """Lower and upper interval bounds over ``(chain, draw)`` jointly.

    Parameters
    ----------
    values
        Draws with ``chain`` and ``draw`` dims.
    interval_prob
        Probability mass inside the interval, in (0, 1).
    interval_kind
        ``"eti"``: equal-tailed, the ``(1 - p)/2`` and ``(1 + p)/2`` quantiles with linear
        interpolation. ``"hdi"``: highest-density interval from :func:`arviz.hdi`.
    integer
        For integer-valued draws (ranks): ETI bounds use the nearest sample value outward
        (quantile methods ``"lower"`` / ``"higher"``), so bounds stay whole numbers.

    Returns
    -------
    lower, upper
        Bounds without the ``chain`` and ``draw`` dims.
    """
    interval_prob, interval_kind = check_interval(interval_prob, interval_kind)
    if interval_kind == "hdi":
        if isinstance(values, xr.DataArray):
            name = values.name if values.name is not None else "values"
            lower, upper = credible_interval(values.to_dataset(name=name),
                                             interval_prob=interval_prob,
                                             interval_kind=interval_kind)
            return lower[name], upper[name]
        bounds = az.hdi(values, hdi_prob=interval_prob)
        return bounds.sel(hdi="lower", drop=True), bounds.sel(hdi="higher", drop=True)
    tail = (1.0 - interval_prob) / 2.0
    if integer:
        lower = values.quantile(tail, dim=dims.SAMPLE_DIMS, method="lower")
        upper = values.quantile(1.0 - tail, dim=dims.SAMPLE_DIMS, method="higher")
    else:
        both = values.quantile([tail, 1.0 - tail], dim=dims.SAMPLE_DIMS, method="linear")
        lower, upper = both.isel(quantile=0), both.isel(quantile=1)
    return lower.drop_vars("quantile"), upper.drop_vars("quantile")


def describe_interval(interval_prob: float, interval_kind: str) -> str:
    """Describe an interval in words, e.g. ``"90% equal-tailed"``.

    Parameters
    ----------
    interval_prob
        Probability mass inside the interval, in (0, 1).
    interval_kind
        ``"eti"`` (equal-tailed) or ``"hdi"`` (highest-density).

    Returns
    -------
    str
        The percentage (``%g`` format, so 0.9 gives ``90%`` and 0.975 ``97.5%``) and kind.
    """
    return f"{interval_prob * 100:g}% {_KIND_TEXT[interval_kind]}"
