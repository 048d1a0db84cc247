"""Budget-neutral damping: limit each LA's change of share against a baseline, per draw.

:class:`Damping` holds the floor and cap; :func:`damp_shares` applies them to shares draw by
draw, with an exact (non-iterative) solver, so damped shares still sum to 1 on every draw.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import xarray as xr

from bayes_needs.core import dims
from bayes_needs.core.errors import ConfigError


@dataclass(frozen=True)
class Damping:
    """Budget-neutral limits on each LA's relative change of share against its baseline.

    Parameters
    ----------
    floor
        Minimum relative change of share, e.g. ``-0.05``: no LA's share falls more than 5%
        below its baseline share. Must lie in [-1, 0] (a floor above 0 would need every LA
        to gain, which no budget-neutral scheme can pay for). ``None``: no floor.
    cap
        Maximum relative change of share, e.g. ``0.10``: no LA's share rises more than 10%
        above its baseline share. Must be >= 0 (a negative cap would need every LA to lose).
        ``None``: no cap.

    Raises
    ------
    ConfigError
        If a limit is not a finite number or is infeasible as described above.
    """

    floor: float | None = None
    cap: float | None = None

    def __post_init__(self) -> None:
        """Check both limits and store them as plain floats."""
        for name in ("floor", "cap"):
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int | float | np.number) \
                    or not math.isfinite(value):
                raise ConfigError(f"damping {name} must be a finite number or None, "
                                  f"got {value!r}")
            object.__setattr__(self, name, float(value))
        if self.floor is not None and not -1.0 <= self.floor <= 0.0:
            raise ConfigError(
                f"damping floor={self.floor} is infeasible: it is the minimum relative change "
                f"of share and must lie in [-1, 0]; a floor above 0 would require every LA to "
                f"gain, which a budget-neutral scheme cannot fund")
        if self.cap is not None and self.cap < 0.0:
            raise ConfigError(
                f"damping cap={self.cap} is infeasible: it is the maximum relative change of "
                f"share and must be >= 0; a cap below 0 would require every LA to lose")

    def bounds(self, baseline_share: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return the lowest and highest allowed share of each LA.

        Parameters
        ----------
        baseline_share
            Baseline share per LA, summing to 1.

        Returns
        -------
        low, high : numpy.ndarray
            Bounds per LA; without a floor ``low`` is 0, without a cap ``high`` is 1.
        """
        floor = -1.0 if self.floor is None else self.floor
        low = baseline_share * (1.0 + floor)
        # No share can exceed 1, so 1 stands in for "no cap" and keeps the solver finite.
        high = np.ones_like(baseline_share) if self.cap is None \
            else np.minimum(baseline_share * (1.0 + self.cap), 1.0)
        return low, high


def damp_shares(share: xr.DataArray, baseline_share: xr.DataArray,
                damping: Damping) -> xr.DataArray:
    """Apply budget-neutral damping to shares, separately on every draw.

    Algorithm (per draw). With baseline share ``b`` the allowed range of LA *i* is
    ``[lo_i, hi_i] = [b_i (1 + floor), b_i (1 + cap)]``. LAs below their floor are raised to
    it; the cost is met by scaling down, by one common factor ``t``, every other LA's excess
    over its own floor ``e_i = share_i - lo_i``; gains above the cap are cut and the savings
    go back to the uncapped LAs by raising ``t``. Iterating these steps converges to::

        damped_i = min(lo_i + t * max(share_i - lo_i, 0), hi_i)

    with ``t`` the single value making the damped shares sum to 1. The sum is a continuous,
    piecewise-linear, non-decreasing function of ``t``, so ``t`` is found exactly (not by
    iteration) from the sorted saturation points ``(hi_i - lo_i) / e_i``, vectorised over draws.
    Shares therefore sum to 1 to rounding error and every LA ends within its range.

    Only when caps are so tight that the gaining LAs, all at their caps, cannot fund the
    floor (possible only for caps near 0), the LAs held at their floors are raised toward
    their caps by one common fraction of their headroom ``hi_i - lo_i``.

    Parameters
    ----------
    share
        Undamped shares with dims ``(..., la)``, summing to 1 over ``la``.
    baseline_share
        Baseline share per LA (dim ``la``), summing to 1.
    damping
        The floor and cap.

    Returns
    -------
    xarray.DataArray
        Damped shares, same dims and coords as ``share``.
    """
    baseline = baseline_share.sel({dims.LA: share[dims.LA]}).to_numpy()
    lead = [d for d in share.dims if d != dims.LA]
    ordered = share.transpose(*lead, dims.LA)
    flat = ordered.to_numpy().reshape(-1, ordered.sizes[dims.LA])
    damped = _damp_array(flat, baseline, damping).reshape(ordered.shape)
    return ordered.copy(data=damped).transpose(*share.dims)


def _damp_array(share: np.ndarray, baseline: np.ndarray, damping: Damping) -> np.ndarray:
    """Damp shares of shape ``(draws, la)``; see :func:`damp_shares` for the algorithm."""
    low, high = damping.bounds(baseline)
    # Subnormal excesses count as none, so every saturation point below stays finite.
    excess = np.maximum(share - low, 0.0)
    gaining = excess >= np.finfo(float).tiny
    excess = np.where(gaining, excess, 0.0)
    headroom = np.where(gaining, high - low, 0.0)
    with np.errstate(divide="ignore"):
        saturation = np.where(gaining, headroom / np.where(gaining, excess, 1.0), np.inf)
    order = np.argsort(saturation, axis=1, kind="stable")
    t_sorted = np.take_along_axis(saturation, order, axis=1)
    excess_sorted = np.take_along_axis(excess, order, axis=1)
    headroom_sorted = np.take_along_axis(headroom, order, axis=1)
    saturated_headroom = np.cumsum(headroom_sorted, axis=1)
    # Excess of the LAs from each position on, summed from the end: subtracting cumulative
    # sums from the total would cancel catastrophically when excesses differ in scale.
    unsaturated_excess = np.flip(np.cumsum(np.flip(excess_sorted, 1), 1), 1)
    excess_after = np.concatenate([unsaturated_excess[:, 1:],
                                   np.zeros((len(share), 1))], axis=1)
    total_low = low.sum()
    total_excess = unsaturated_excess[:, :1]
    finite = np.isfinite(t_sorted)
    # Sum of damped shares at each saturation point (LAs up to and including it saturated);
    # non-gaining LAs sort last with an infinite point, where every gaining LA is saturated.
    with np.errstate(invalid="ignore"):
        total_at = total_low + np.where(finite, saturated_headroom + t_sorted * excess_after,
                                        saturated_headroom[:, -1:])
    reaches_one = total_at >= 1.0
    k = np.argmax(reaches_one, axis=1)[:, None]
    before_headroom = np.where(k > 0, np.take_along_axis(saturated_headroom, k - 1, 1), 0.0)
    slope = np.take_along_axis(unsaturated_excess, k, 1)
    # t * excess_i written as needed * (excess_i / slope), which cannot overflow for the
    # unsaturated LAs even when t itself would.
    needed = np.maximum(1.0 - total_low - before_headroom, 0.0)  # < 0 only by rounding
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        portion = np.where(slope > 0, excess / np.where(slope > 0, slope, 1.0), 0.0)
        damped = np.where(gaining, np.minimum(low + needed * portion, high), low)

    # Caps too tight for the gainers alone to fund the floor: raise the floored LAs too.
    short = ~reaches_one.any(axis=1) & (total_excess[:, 0] > 0)
    if short.any():
        at_floor_room = np.where(gaining[short], 0.0, high - low)
        funded = np.where(gaining[short], high, low).sum(axis=1, keepdims=True)
        room = at_floor_room.sum(axis=1, keepdims=True)
        # Zero room means the shortfall is only rounding error (floor = cap = 0).
        with np.errstate(divide="ignore", invalid="ignore"):
            fraction = np.where(room > 0, np.clip((1.0 - funded) / room, 0.0, 1.0), 0.0)
        damped[short] = np.where(gaining[short], high, low + fraction * at_floor_room)
    return damped
