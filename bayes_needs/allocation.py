"""Allocation maths: posterior need draws x cost weights -> each LA's share of a national pot.

Everything here is xarray/numpy arithmetic over posterior draws, outside any PyMC graph.
Every quantity (weighted need, share, damped share, amount, rank) is computed per draw and
only summarised at the very end, so every interval carries the joint uncertainty of demand,
cost weights and damping.

Pairing cost-weight draws with demand draws
-------------------------------------------
Uncertain cost weights are combined with the demand draws **jointly, draw by draw**: demand
draw *d* is multiplied by one cost-weight draw, never by the mean weight. The pairing rule:

* If the weights hold as many draws as ``need`` (``chain`` x ``draw``, or a stacked
  ``sample`` dim of the same length), draw *d* is paired with weight draw *d* in C order
  (chain-major). When both come from one joint posterior this keeps their correlation.
* If the weights hold more draws, a random subset of them (without replacement, seeded by
  ``random_seed``) is paired with the demand draws in random order.
* If they hold fewer, every weight draw is used ``n_need // n_weights`` times, a random
  ``n_need % n_weights`` of them once more, in random order (seeded by ``random_seed``).

Each demand draw therefore meets exactly one weight draw and the weights' marginal
distribution is kept, so the intervals are never narrowed by averaging.

Damping
-------
See :class:`Damping` and :func:`damp_shares`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from bayes_needs.core import dims
from bayes_needs.core.errors import (
    BayesNeedsError,
    ConfigError,
    DataValidationError,
    MissingDataError,
)
from bayes_needs.core.idata import CONFIG_ATTR, KIND_ATTR, VERSION_ATTR
from bayes_needs.core.intervals import (
    IntervalKind,
    check_interval,
    credible_interval,
    describe_interval,
)
from bayes_needs.core.outputs import write_atomic, write_csv
from bayes_needs.core.version import __version__

#: Value of the ``bayes_needs_kind`` attribute of a saved allocation.
ALLOCATION_KIND = "allocation"
LA_NAME = dims.LA_NAME
_SAMPLE_DIMS = (dims.CHAIN, dims.DRAW)

PerLA = Mapping[str, float] | pd.Series | xr.DataArray
CostWeights = Mapping[str, float] | pd.Series | xr.DataArray


# ====================================================================== damping
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
        """Lowest and highest allowed share per LA, given baseline shares (summing to 1)."""
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


# ====================================================================== result object
@dataclass(frozen=True, eq=False)
class Allocation:
    """Per-draw allocation results and their summaries.

    Build it with :func:`allocate`, or load a saved one with :meth:`from_netcdf`.

    Attributes
    ----------
    draws
        Dataset with dims ``(chain, draw, la[, service])`` holding ``need`` (demand per LA and
        service), ``cost_weight`` (the weight paired with each draw, or fixed), ``contribution``
        (need x weight x area cost adjustment per LA and service), ``weighted_need``,
        ``share``, ``rank`` (1 = largest share), ``amount`` (when a pot was given),
        ``share_undamped`` (when damped), ``baseline_share`` and ``area_cost_adjustment`` (when
        given). Settings are stored in the attrs (``interval_prob``, ``interval_kind``,
        ``pot``, ``damping_floor``, ``damping_cap``, ``cost_weight_pairing`` and the JSON
        config under ``bayes_needs_config``).
    """

    draws: xr.Dataset

    # ------------------------------------------------------------------ settings
    @property
    def config(self) -> dict[str, Any]:
        """Settings used to build the allocation."""
        return json.loads(self.draws.attrs[CONFIG_ATTR])

    @property
    def interval_prob(self) -> float:
        """Default interval probability of :meth:`summary`."""
        return float(self.config["interval_prob"])

    @property
    def interval_kind(self) -> str:
        """Default interval kind of :meth:`summary`."""
        return str(self.config["interval_kind"])

    @property
    def pot(self) -> float | None:
        """The national pot, or ``None``."""
        return self.config["pot"]

    @property
    def damping(self) -> Damping | None:
        """The damping applied, or ``None``."""
        settings = self.config["damping"]
        return None if settings is None else Damping(**settings)

    @property
    def la_codes(self) -> np.ndarray:
        """LA codes in result order."""
        return self.draws[dims.LA].to_numpy()

    # ------------------------------------------------------------------ summaries
    def summary(self, *, interval_prob: float | None = None,
                interval_kind: IntervalKind | None = None) -> pd.DataFrame:
        """Tidy per-LA summary, one row per LA.

        Parameters
        ----------
        interval_prob, interval_kind
            Override the interval settings stored with the allocation.

        Returns
        -------
        pandas.DataFrame
            Columns ``la_code, la_name, share_mean, share_median, share_lower, share_upper,
            rank_median, rank_lower, rank_upper``; ``allocation_mean, allocation_lower,
            allocation_upper`` when a pot was given; ``baseline_share, prob_gain``
            (P(share > baseline share)) when a baseline was given; then ``share_sd`` and
            ``weighted_need_mean``. ``attrs`` records ``interval_prob``, ``interval_kind``,
            ``n_draws``, ``pot`` and ``comment`` (the header line :meth:`to_csv` writes).
        """
        prob, kind = check_interval(
            self.interval_prob if interval_prob is None else interval_prob,
            self.interval_kind if interval_kind is None else interval_kind)
        ds = self.draws
        share = ds["share"]
        share_lower, share_upper = credible_interval(share, interval_prob=prob,
                                                     interval_kind=kind)
        rank_lower, rank_upper = credible_interval(ds["rank"], interval_prob=prob,
                                                   interval_kind=kind, integer=True)
        rank_lower, rank_upper = rank_lower.astype(np.int64), rank_upper.astype(np.int64)
        columns: dict[str, Any] = {
            "la_code": self.la_codes.astype(str),
            "la_name": ds[LA_NAME].to_numpy().astype(str),
            "share_mean": share.mean(_SAMPLE_DIMS).to_numpy(),
            "share_median": share.median(_SAMPLE_DIMS).to_numpy(),
            "share_lower": share_lower.to_numpy(),
            "share_upper": share_upper.to_numpy(),
            "rank_median": ds["rank"].median(_SAMPLE_DIMS).to_numpy(),
            "rank_lower": rank_lower.to_numpy(),
            "rank_upper": rank_upper.to_numpy(),
        }
        pot = self.pot
        if pot is not None:
            # A positive multiple of the share, so its ETI and HDI are the share's times pot.
            columns["allocation_mean"] = columns["share_mean"] * pot
            columns["allocation_lower"] = columns["share_lower"] * pot
            columns["allocation_upper"] = columns["share_upper"] * pot
        if "baseline_share" in ds:
            columns["baseline_share"] = ds["baseline_share"].to_numpy()
            columns["prob_gain"] = (share > ds["baseline_share"]).mean(_SAMPLE_DIMS).to_numpy()
        columns["share_sd"] = share.std(_SAMPLE_DIMS).to_numpy()
        columns["weighted_need_mean"] = ds["weighted_need"].mean(_SAMPLE_DIMS).to_numpy()
        frame = pd.DataFrame(columns)
        n_draws = int(ds.sizes[dims.CHAIN] * ds.sizes[dims.DRAW])
        frame.attrs.update({
            "interval_prob": prob, "interval_kind": kind, "n_draws": n_draws, "pot": pot,
            "comment": self._comment(prob, kind, n_draws),
        })
        return frame

    def _comment(self, prob: float, kind: str, n_draws: int) -> str:
        lines = [f"interval: {describe_interval(prob, kind)} ({kind}) over {n_draws} "
                 f"posterior draws"]
        if self.pot is not None:
            lines.append(f"pot: {self.pot:.10g}")
        damping = self.damping
        if damping is not None:
            lines.append(f"damping: floor={damping.floor}, cap={damping.cap} (relative change "
                         f"of share vs baseline, budget neutral per draw)")
        lines.append(f"cost weights: {self.config['cost_weight_pairing']}")
        return "\n".join(lines)

    def to_csv(self, path: str | Path, *, interval_prob: float | None = None,
               interval_kind: IntervalKind | None = None) -> Path:
        """Write :meth:`summary` atomically, with ``# interval: ...`` header comment lines."""
        frame = self.summary(interval_prob=interval_prob, interval_kind=interval_kind)
        return write_csv(path, frame, comment=frame.attrs["comment"])

    # ------------------------------------------------------------------ persistence
    def to_netcdf(self, path: str | Path) -> Path:
        """Write the draws and settings to netCDF atomically."""
        return write_atomic(path, lambda tmp: self.draws.to_netcdf(tmp, engine="h5netcdf"))

    @classmethod
    def from_netcdf(cls, path: str | Path) -> Allocation:
        """Read an allocation written by :meth:`to_netcdf`.

        Raises
        ------
        MissingDataError
            If the file does not exist.
        BayesNeedsError
            If it is unreadable or not a saved allocation.
        """
        path = Path(path)
        if not path.is_file():
            raise MissingDataError(f"{path}: file does not exist")
        try:
            ds = xr.load_dataset(path, engine="h5netcdf")
        except Exception as exc:  # h5py/netCDF raise many types for corrupt files
            raise BayesNeedsError(f"{path}: not a readable netCDF file "
                                  f"({type(exc).__name__}: {exc})") from None
        if ds.attrs.get(KIND_ATTR) != ALLOCATION_KIND or CONFIG_ATTR not in ds.attrs:
            raise BayesNeedsError(f"{path}: not an allocation saved by bayes_needs "
                                  f"(kind {ds.attrs.get(KIND_ATTR)!r})")
        return cls(ds)


# ====================================================================== validation helpers
def _codes(values) -> np.ndarray:
    """Plain numpy unicode array (pandas string arrays do not round-trip through netCDF)."""
    return np.asarray([str(v) for v in values], dtype=str)


def _check_need(need: xr.DataArray) -> xr.DataArray:
    if not isinstance(need, xr.DataArray):
        raise DataValidationError("need", [f"expected an xarray.DataArray, got "
                                           f"{type(need).__name__}"])
    expected = (dims.CHAIN, dims.DRAW, dims.LA, dims.SERVICE)
    if set(need.dims) != set(expected):
        hint = (f"; unstack '{dims.SAMPLE}' into ('{dims.CHAIN}', '{dims.DRAW}') first"
                if dims.SAMPLE in need.dims else "")
        raise DataValidationError("need", [f"dims must be {list(expected)}, got "
                                           f"{list(need.dims)}{hint}"])
    problems = []
    for dim in (dims.LA, dims.SERVICE):
        if dim not in need.coords:
            problems.append(f"dim '{dim}' has no coordinate labels")
            continue
        labels = pd.Index(_codes(need[dim].to_numpy()))
        if labels.has_duplicates:
            problems.append(f"dim '{dim}' has duplicate labels "
                            f"{sorted(set(labels[labels.duplicated()]))[:8]}")
    if problems:
        raise DataValidationError("need", problems)
    need = need.transpose(*expected).astype(float)
    values = need.to_numpy()
    bad = ~np.isfinite(values) | (values < 0)
    if bad.any():
        la_bad, service_bad = bad.any(axis=(0, 1, 3)), bad.any(axis=(0, 1, 2))
        la_codes = _codes(need[dims.LA].to_numpy())[la_bad]
        services = _codes(need[dims.SERVICE].to_numpy())[service_bad]
        problems.append(f"{int(bad.sum())} value(s) are NaN, infinite or negative; demand must "
                        f"be finite and >= 0 (LA(s) {list(la_codes[:8])}, service(s) "
                        f"{list(services)})")
        raise DataValidationError("need", problems)
    names = (_codes(need[LA_NAME].to_numpy()) if LA_NAME in need.coords
             else _codes(need[dims.LA].to_numpy()))
    coords = {dims.CHAIN: need[dims.CHAIN].to_numpy(), dims.DRAW: need[dims.DRAW].to_numpy(),
              dims.LA: _codes(need[dims.LA].to_numpy()),
              dims.SERVICE: _codes(need[dims.SERVICE].to_numpy()),
              LA_NAME: (dims.LA, names)}
    return xr.DataArray(values, dims=expected, coords=coords, name="need")


def _per_la(values: PerLA, la_codes: np.ndarray, name: str) -> np.ndarray:
    """Per-LA values aligned to ``la_codes``; every LA present, no unknown codes."""
    if isinstance(values, xr.DataArray):
        if values.dims != (dims.LA,) or dims.LA not in values.coords:
            raise DataValidationError(name, [f"a DataArray must have exactly one dim "
                                             f"'{dims.LA}' with LA-code labels, got dims "
                                             f"{list(values.dims)}"])
        series = pd.Series(values.to_numpy(), index=_codes(values[dims.LA].to_numpy()))
    elif isinstance(values, pd.Series | Mapping):
        series = pd.Series(values)
        series.index = _codes(series.index)
    else:
        raise DataValidationError(name, [f"expected a mapping, pandas Series or DataArray "
                                         f"keyed by LA code, got {type(values).__name__}"])
    problems = []
    if series.index.has_duplicates:
        repeated = sorted(set(series.index[series.index.duplicated()]))
        problems.append(f"duplicate LA code(s) {repeated[:8]}")
    missing = sorted(set(la_codes) - set(series.index))
    unknown = sorted(set(series.index) - set(la_codes))
    if missing:
        problems.append(f"{len(missing)} LA code(s) of need are missing: {missing[:8]}")
    if unknown:
        problems.append(f"{len(unknown)} LA code(s) not in need: {unknown[:8]}")
    if problems:
        raise DataValidationError(name, problems)
    try:
        return series.loc[la_codes].to_numpy(dtype=float)
    except (TypeError, ValueError) as exc:
        raise DataValidationError(name, [f"values must be numbers ({exc})"]) from None


def _baseline_shares(baseline: PerLA, la_codes: np.ndarray) -> np.ndarray:
    """Baseline shares: error if any is negative or not finite, otherwise normalised to 1."""
    values = _per_la(baseline, la_codes, "baseline")
    bad = ~np.isfinite(values) | (values < 0)
    if bad.any():
        raise DataValidationError("baseline", [f"values must be finite and >= 0; bad at LA(s) "
                                               f"{list(la_codes[bad][:8])}"])
    total = values.sum()
    if total <= 0:
        raise DataValidationError("baseline", ["values sum to 0; give baseline shares or "
                                               "amounts for at least one LA"])
    return values / total


def _area_cost_adjustment(aca: PerLA, la_codes: np.ndarray) -> np.ndarray:
    values = _per_la(aca, la_codes, "area_cost_adjustment")
    bad = ~np.isfinite(values) | (values <= 0)
    if bad.any():
        raise DataValidationError("area_cost_adjustment", [
            f"multipliers must be finite and > 0; bad at LA(s) {list(la_codes[bad][:8])}"])
    return values


def _cost_weight_array(cost_weights: CostWeights) -> xr.DataArray:
    if isinstance(cost_weights, xr.DataArray):
        return cost_weights
    if isinstance(cost_weights, pd.Series | Mapping):
        series = pd.Series(cost_weights)
        try:
            values = series.to_numpy(dtype=float)
        except (TypeError, ValueError) as exc:
            raise DataValidationError("cost_weights", [f"values must be numbers ({exc})"]) \
                from None
        return xr.DataArray(values, dims=(dims.SERVICE,),
                            coords={dims.SERVICE: _codes(series.index)})
    raise DataValidationError("cost_weights", [
        f"expected a mapping or Series keyed by service, or a DataArray with a "
        f"'{dims.SERVICE}' dim, got {type(cost_weights).__name__}"])


def _aligned_cost_weights(cost_weights: CostWeights, need: xr.DataArray) -> xr.DataArray:
    """Validated weights for need's services, in need's service order, draw dims kept."""
    weights = _cost_weight_array(cost_weights)
    if dims.SERVICE not in weights.dims:
        hint = (f"; map the '{dims.ACTIVITY}' dim onto services first"
                if dims.ACTIVITY in weights.dims else "")
        raise DataValidationError("cost_weights", [f"needs a '{dims.SERVICE}' dim, got dims "
                                                   f"{list(weights.dims)}{hint}"])
    draw_dims = [d for d in weights.dims if d != dims.SERVICE]
    if draw_dims and set(draw_dims) not in ({dims.CHAIN, dims.DRAW}, {dims.SAMPLE}):
        raise DataValidationError("cost_weights", [
            f"dims must be ('{dims.SERVICE}',) for fixed weights, or ('{dims.CHAIN}', "
            f"'{dims.DRAW}', '{dims.SERVICE}') / ('{dims.SAMPLE}', '{dims.SERVICE}') for draws; "
            f"got {list(weights.dims)}"])
    if dims.SERVICE not in weights.coords:
        raise DataValidationError("cost_weights", [f"dim '{dims.SERVICE}' has no labels"])
    weights = weights.assign_coords({dims.SERVICE: _codes(weights[dims.SERVICE].to_numpy())})
    if weights.indexes[dims.SERVICE].has_duplicates:
        raise DataValidationError("cost_weights", ["duplicate service labels"])
    services = need[dims.SERVICE].to_numpy()
    missing = [s for s in services if s not in set(weights[dims.SERVICE].to_numpy())]
    if missing:
        raise DataValidationError("cost_weights", [
            f"no weight for service(s) {missing} that appear in need; weights are given for "
            f"{list(weights[dims.SERVICE].to_numpy())}"])
    weights = weights.sel({dims.SERVICE: services}).astype(float)
    values = weights.to_numpy()
    bad = ~np.isfinite(values) | (values < 0)
    if bad.any():
        bad_services = services[bad.reshape(-1, len(services)).any(axis=0)]
        raise DataValidationError("cost_weights", [
            f"{int(bad.sum())} weight(s) are negative, NaN or infinite for service(s) "
            f"{list(bad_services)}; weights must be finite and >= 0"])
    if not draw_dims:
        return weights.drop_vars([c for c in weights.coords if c != dims.SERVICE])
    return weights


def _paired_cost_weights(cost_weights: CostWeights, need: xr.DataArray,
                         random_seed: int | None) -> tuple[xr.DataArray, str]:
    """Weights aligned to need's services: dims ``(service,)`` or ``(chain, draw, service)``.

    Returns the weights and a description of how their draws were paired with demand draws.
    """
    weights = _aligned_cost_weights(cost_weights, need)
    draw_dims = [d for d in weights.dims if d != dims.SERVICE]
    services = need[dims.SERVICE].to_numpy()
    if not draw_dims:
        return weights, "fixed"

    draw_order = [dims.SAMPLE] if draw_dims == [dims.SAMPLE] else [dims.CHAIN, dims.DRAW]
    flat = weights.transpose(*draw_order, dims.SERVICE).to_numpy().reshape(-1, len(services))
    n_weights = flat.shape[0]
    n_chain, n_draw = need.sizes[dims.CHAIN], need.sizes[dims.DRAW]
    n_need = n_chain * n_draw
    if n_weights == n_need:
        pairing = f"{n_weights} draws paired with demand draws by position"
        index = np.arange(n_need)
    else:
        if random_seed is None:
            raise ConfigError(
                f"cost_weights has {n_weights} draws but need has {n_need}; pairing them "
                f"draw by draw uses a random permutation, so pass an explicit random_seed")
        rng = np.random.default_rng(random_seed)
        if n_weights > n_need:
            index = rng.choice(n_weights, size=n_need, replace=False)
            pairing = (f"{n_need} of {n_weights} draws subsampled without replacement in "
                       f"random order (random_seed={random_seed})")
        else:
            repeats, extra = divmod(n_need, n_weights)
            index = rng.permutation(np.concatenate([
                np.tile(np.arange(n_weights), repeats),
                rng.choice(n_weights, size=extra, replace=False)]))
            pairing = (f"{n_weights} draws each reused {repeats}-{repeats + (extra > 0)} "
                       f"times in random order (random_seed={random_seed})")
    paired = flat[index].reshape(n_chain, n_draw, len(services))
    return xr.DataArray(paired, dims=(dims.CHAIN, dims.DRAW, dims.SERVICE),
                        coords={dims.CHAIN: need[dims.CHAIN].to_numpy(),
                                dims.DRAW: need[dims.DRAW].to_numpy(),
                                dims.SERVICE: services}), pairing


def _check_pot(pot: float | None) -> float | None:
    if pot is None:
        return None
    if isinstance(pot, bool) or not isinstance(pot, int | float | np.number) \
            or not math.isfinite(pot) or pot <= 0:
        raise ConfigError(f"pot must be a finite number > 0 (the national total to share), "
                          f"got {pot!r}")
    return float(pot)


def _shares(need: xr.DataArray, weights: xr.DataArray,
            aca: np.ndarray | None) -> tuple[xr.DataArray, xr.DataArray, xr.DataArray]:
    """Per-service contributions, weighted need per LA and shares, all per draw."""
    contribution = need * weights
    if aca is not None:
        contribution = contribution * xr.DataArray(aca, dims=(dims.LA,))
    weighted = contribution.sum(dims.SERVICE)
    total = weighted.sum(dims.LA)
    empty = (total <= 0).to_numpy()
    if empty.any():
        raise DataValidationError("need", [
            f"weighted need is 0 for every LA on {int(empty.sum())} draw(s), so shares are "
            f"undefined; check that need and cost_weights are not all zero"])
    return contribution, weighted, weighted / total


# ====================================================================== entry points
def allocate(
    need: xr.DataArray,
    cost_weights: CostWeights,
    *,
    pot: float | None = None,
    baseline: PerLA | None = None,
    area_cost_adjustment: PerLA | None = None,
    damping: Damping | None = None,
    interval_prob: float = 0.9,
    interval_kind: IntervalKind = "eti",
    random_seed: int | None = None,
) -> Allocation:
    """Turn posterior demand draws and cost weights into each LA's share of a pot.

    Per draw: ``weighted_need[la] = ACA[la] * sum_service need[la, service] * weight[service]``,
    ``share = weighted_need / sum_la weighted_need`` (sums to 1 on every draw), optionally
    damped against the baseline (:func:`damp_shares`), ``amount = share * pot`` and
    ``rank`` (1 = largest share; tied LAs share the smallest rank).

    Parameters
    ----------
    need
        Expected demand with dims ``(chain, draw, la, service)``; ``la`` labels are LA codes,
        an optional ``la_name`` coord on ``la`` is carried through. Finite and >= 0.
    cost_weights
        Relative cost weight per service, finite and >= 0: fixed (mapping, Series, or
        DataArray with only a ``service`` dim) or draws (DataArray with dims ``(chain, draw,
        service)`` or ``(sample, service)``), paired with the demand draws jointly as
        described in the module docstring. Extra services are ignored.
    pot
        National total to share out, > 0; ``None`` gives shares only.
    baseline
        Baseline (e.g. last year's) share or amount per LA code, covering exactly the LAs of
        ``need``. Negative values are an error; otherwise values are normalised to sum to 1,
        so amounts in pounds can be given directly.
    area_cost_adjustment
        Positive multiplier per LA code applied to weighted need.
    damping
        Floor and cap on the relative change of share vs ``baseline``; requires ``baseline``.
    interval_prob
        Default interval probability of the summaries, in (0, 1).
    interval_kind
        Default interval kind of the summaries: ``"eti"`` or ``"hdi"``.
    random_seed
        Seed for pairing cost-weight draws with demand draws when their counts differ
        (required then).

    Returns
    -------
    Allocation

    Raises
    ------
    DataValidationError
        For invalid ``need``, ``cost_weights``, ``baseline`` or ``area_cost_adjustment``.
    ConfigError
        For invalid ``pot``, ``damping``, ``interval_prob``, ``interval_kind``, or a
        missing ``random_seed`` when one is needed.
    """
    interval_prob, interval_kind = check_interval(interval_prob, interval_kind)
    pot = _check_pot(pot)
    if damping is not None and not isinstance(damping, Damping):
        raise ConfigError(f"damping must be a Damping(floor=..., cap=...) or None, got "
                          f"{type(damping).__name__}")
    if damping is not None and baseline is None:
        raise ConfigError("damping limits the change of share against a baseline: pass "
                          "baseline= (e.g. last year's shares or amounts per LA)")
    need = _check_need(need)
    la_codes = need[dims.LA].to_numpy()
    baseline_share = None if baseline is None else _baseline_shares(baseline, la_codes)
    if damping is not None and damping.cap is not None and (baseline_share <= 0).any():
        raise DataValidationError("baseline", [
            f"LA(s) {list(la_codes[baseline_share <= 0][:8])} have a zero baseline share, so "
            f"a cap on the relative change would hold them at 0; give them a baseline or "
            f"drop the cap"])
    aca = None if area_cost_adjustment is None else _area_cost_adjustment(
        area_cost_adjustment, la_codes)
    weights, pairing = _paired_cost_weights(cost_weights, need, random_seed)

    contribution, weighted, share = _shares(need, weights, aca)
    data_vars: dict[str, xr.DataArray] = {
        "need": need, "cost_weight": weights, "contribution": contribution,
        "weighted_need": weighted,
    }
    if baseline_share is not None:
        data_vars["baseline_share"] = xr.DataArray(baseline_share, dims=(dims.LA,))
    if aca is not None:
        data_vars["area_cost_adjustment"] = xr.DataArray(aca, dims=(dims.LA,))
    if damping is not None:
        data_vars["share_undamped"] = share
        share = damp_shares(share, data_vars["baseline_share"].assign_coords(
            {dims.LA: la_codes}), damping)
    data_vars["share"] = share
    if pot is not None:
        data_vars["amount"] = share * pot
    data_vars["rank"] = _ranks(share)

    config = {
        "interval_prob": interval_prob, "interval_kind": interval_kind, "pot": pot,
        "damping": None if damping is None else asdict(damping),
        "random_seed": random_seed, "cost_weight_pairing": pairing,
        "baseline": baseline is not None, "area_cost_adjustment": aca is not None,
    }
    attrs = {CONFIG_ATTR: json.dumps(config, sort_keys=True), KIND_ATTR: ALLOCATION_KIND,
             VERSION_ATTR: __version__, "interval_prob": interval_prob,
             "interval_kind": interval_kind, "cost_weight_pairing": pairing}
    for key, value in (("pot", pot),
                       ("damping_floor", None if damping is None else damping.floor),
                       ("damping_cap", None if damping is None else damping.cap)):
        if value is not None:
            attrs[key] = value
    draws = xr.Dataset(data_vars, coords={LA_NAME: need[LA_NAME]}, attrs=attrs)
    return Allocation(draws.transpose(dims.CHAIN, dims.DRAW, dims.LA, dims.SERVICE,
                                      missing_dims="ignore"))


def _ranks(share: xr.DataArray) -> xr.DataArray:
    """Rank of each LA's share per draw: 1 = largest; ties take the smallest rank."""
    from scipy.stats import rankdata

    ordered = share.transpose(..., dims.LA)
    ranks = rankdata(-ordered.to_numpy(), method="min", axis=-1).astype(np.int64)
    return ordered.copy(data=ranks).rename("rank")


def decompose_interval_width(
    need: xr.DataArray,
    cost_weight_draws: xr.DataArray,
    *,
    interval_prob: float,
    interval_kind: IntervalKind,
    random_seed: int,
    weight_draws_per_demand_draw: int = 50,
    area_cost_adjustment: PerLA | None = None,
) -> pd.DataFrame:
    """How much of each LA's share uncertainty comes from demand vs cost weights.

    Three samples of shares are compared, all built on the same demand draws:

    * ``total``: every demand draw paired with ``weight_draws_per_demand_draw`` cost-weight
      draws (drawn with replacement, seeded), so both sources are uncertain;
    * ``demand``: cost weights fixed at their posterior mean (demand uncertainty only);
    * ``cost``: demand fixed at its posterior mean, with every cost-weight draw.

    Pooling many weight draws per demand draw matters: cost weights typically add a few per
    cent to a share's width, less than the Monte Carlo error of a tail quantile, so widths
    from one weight draw per demand draw cannot be ordered reliably; pooled, the demand
    draws are shared exactly and the cost part is averaged over.

    The two parts need **not** sum to the total: widths do not add (for independent sources
    they add roughly in quadrature) and the sources can interact. ``demand_fraction`` and
    ``cost_fraction`` are each part divided by the sum of the two parts; ``parts_over_total``
    is that sum divided by the total width. ``sd_fixed`` and ``sd_uncertain`` are the
    posterior sds of the ``demand`` and ``total`` samples. Uncertain weights make the sd
    larger, but not necessarily every interval wider: weight uncertainty mostly rescales the
    demand spread of a share, and such a scale mixture has heavier tails and more mass near
    the centre, which can narrow a 90% interval slightly while the sd grows.

    Parameters
    ----------
    need
        Demand draws, dims ``(chain, draw, la, service)``.
    cost_weight_draws
        Cost-weight draws, dims ``(chain, draw, service)`` or ``(sample, service)``.
    interval_prob, interval_kind
        The share interval, as in :func:`credible_interval`.
    random_seed
        Seed for drawing the cost weights paired with each demand draw.
    weight_draws_per_demand_draw
        Cost-weight draws pooled with each demand draw for ``total``.
    area_cost_adjustment
        Optional per-LA multipliers, as in :func:`allocate`.

    Returns
    -------
    pandas.DataFrame
        One row per LA: ``la_code, la_name, width_total, width_demand, width_cost,
        demand_fraction, cost_fraction, parts_over_total, sd_fixed, sd_uncertain,
        sd_ratio``; ``attrs`` holds the interval settings and a ``comment`` line.
    """
    interval_prob, interval_kind = check_interval(interval_prob, interval_kind)
    need = _check_need(need)
    if isinstance(random_seed, bool) or not isinstance(random_seed, int | np.integer):
        raise ConfigError(f"random_seed must be an integer, got {random_seed!r}")
    replicates = weight_draws_per_demand_draw
    if isinstance(replicates, bool) or not isinstance(replicates, int | np.integer) \
            or replicates < 1:
        raise ConfigError(f"weight_draws_per_demand_draw must be an integer >= 1, "
                          f"got {replicates!r}")
    weights = _aligned_cost_weights(cost_weight_draws, need)
    if not set(weights.dims) - {dims.SERVICE}:
        raise ConfigError("cost_weight_draws must hold draws (dims (chain, draw, service) or "
                          "(sample, service)); with fixed weights the cost part is zero")
    services = need[dims.SERVICE].to_numpy()
    flat_weights = weights.transpose(..., dims.SERVICE).to_numpy().reshape(-1, len(services))
    demand = need.transpose(dims.CHAIN, dims.DRAW, dims.LA, dims.SERVICE).to_numpy()
    if area_cost_adjustment is not None:
        demand = demand * _area_cost_adjustment(
            area_cost_adjustment, need[dims.LA].to_numpy())[:, None]
    demand = demand.reshape(-1, *demand.shape[2:])  # (draw, la, service)

    def shares(need_draws: np.ndarray, weight_draws: np.ndarray) -> xr.DataArray:
        weighted = np.einsum("nls,ns->nl", need_draws, weight_draws)
        return xr.DataArray((weighted / weighted.sum(axis=1, keepdims=True))[None],
                            dims=(dims.CHAIN, dims.DRAW, dims.LA))

    rng = np.random.default_rng(random_seed)
    pooled = [shares(demand, flat_weights[rng.integers(0, len(flat_weights), len(demand))])
              for _ in range(replicates)]
    mean_weight = np.broadcast_to(flat_weights.mean(axis=0), (len(demand), len(services)))
    mean_need = np.broadcast_to(demand.mean(axis=0), (len(flat_weights), *demand.shape[1:]))
    samples = {"total": xr.concat(pooled, dim=dims.CHAIN),
               "demand": shares(demand, mean_weight),
               "cost": shares(mean_need, flat_weights)}
    width, sd = {}, {}
    for key, share in samples.items():
        lower, upper = credible_interval(share, interval_prob=interval_prob,
                                         interval_kind=interval_kind)
        width[key] = (upper - lower).to_numpy()
        # ddof 0, so repeating each demand draw in the pooled sample changes nothing.
        sd[key] = share.std(_SAMPLE_DIMS).to_numpy()
    parts = width["demand"] + width["cost"]
    with np.errstate(divide="ignore", invalid="ignore"):
        frame = pd.DataFrame({
            "la_code": need[dims.LA].to_numpy(),
            "la_name": need[LA_NAME].to_numpy(),
            "width_total": width["total"],
            "width_demand": width["demand"],
            "width_cost": width["cost"],
            "demand_fraction": width["demand"] / parts,
            "cost_fraction": width["cost"] / parts,
            "parts_over_total": parts / width["total"],
            "sd_fixed": sd["demand"],
            "sd_uncertain": sd["total"],
            "sd_ratio": sd["total"] / sd["demand"],
        })
    frame.attrs.update({
        "interval_prob": interval_prob, "interval_kind": interval_kind,
        "weight_draws_per_demand_draw": int(replicates),
        "comment": (f"share interval width: {describe_interval(interval_prob, interval_kind)}; "
                    f"uncertain weights: each demand draw with {replicates} cost-weight draws "
                    f"(random_seed={random_seed}); fixed weights: their posterior mean; "
                    f"parts need not sum to the total"),
    })
    return frame
