"""Validate and align the inputs of an allocation: need draws, per-LA values, cost weights, pot.

Used by :func:`bayes_needs.allocation.allocate` and
:func:`bayes_needs.allocation.decompose_interval_width`; every check raises an error naming
the argument at fault (:class:`DataValidationError` for data, :class:`ConfigError` for
settings) and lists what is wrong with it.

Pairing cost-weight draws with demand draws
-------------------------------------------
Uncertain cost weights are combined with the demand draws **jointly, draw by draw**: demand
draw *d* is multiplied by one cost-weight draw, never by the mean weight
(:func:`paired_cost_weights`). The pairing rule:

* If the weights hold as many draws as ``need`` (``chain`` x ``draw``, or a stacked
  ``sample`` dim of the same length), draw *d* is paired with weight draw *d* in C order
  (chain-major). When both come from one joint posterior this keeps their correlation.
* If the weights hold more draws, a random subset of them (without replacement, seeded by
  ``random_seed``) is paired with the demand draws in random order.
* If they hold fewer, every weight draw is used ``n_need // n_weights`` times, a random
  ``n_need % n_weights`` of them once more, in random order (seeded by ``random_seed``).

Each demand draw therefore meets exactly one weight draw and the weights' marginal
distribution is kept, so the intervals are never narrowed by averaging.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd
import xarray as xr

from bayes_needs.core import dims
from bayes_needs.core.errors import ConfigError, DataValidationError

#: A value per LA code: a mapping, a Series indexed by code, or a DataArray with dim ``la``.
PerLA = Mapping[str, float] | pd.Series | xr.DataArray
#: Cost weight per service: fixed (mapping, Series, DataArray over ``service``) or draws.
CostWeights = Mapping[str, float] | pd.Series | xr.DataArray

#: Dims of validated need draws, in this order.
NEED_DIMS = (dims.CHAIN, dims.DRAW, dims.LA, dims.SERVICE)


def as_codes(values: Iterable[object]) -> np.ndarray:
    """Return labels as a plain numpy unicode array.

    pandas string arrays do not round-trip through netCDF, so every label is made a ``str``.
    """
    return np.asarray([str(v) for v in values], dtype=str)


def check_need(need: xr.DataArray) -> xr.DataArray:
    """Validate demand draws and return them as floats in canonical form.

    Parameters
    ----------
    need
        Expected demand with dims ``(chain, draw, la, service)`` in any order, labelled
        ``la`` and ``service`` coords without duplicates, finite and >= 0.

    Returns
    -------
    xarray.DataArray
        Named ``need``, dims ``(chain, draw, la, service)``, str labels and an ``la_name``
        coord (the LA codes when ``need`` has none).

    Raises
    ------
    DataValidationError
        Listing every problem found.
    """
    if not isinstance(need, xr.DataArray):
        raise DataValidationError("need", [f"expected an xarray.DataArray, got "
                                           f"{type(need).__name__}"])
    if set(need.dims) != set(NEED_DIMS):
        hint = (f"; unstack '{dims.SAMPLE}' into ('{dims.CHAIN}', '{dims.DRAW}') first"
                if dims.SAMPLE in need.dims else "")
        raise DataValidationError("need", [f"dims must be {list(NEED_DIMS)}, got "
                                           f"{list(need.dims)}{hint}"])
    problems = []
    for dim in (dims.LA, dims.SERVICE):
        if dim not in need.coords:
            problems.append(f"dim '{dim}' has no coordinate labels")
            continue
        labels = pd.Index(as_codes(need[dim].to_numpy()))
        if labels.has_duplicates:
            problems.append(f"dim '{dim}' has duplicate labels "
                            f"{sorted(set(labels[labels.duplicated()]))[:8]}")
    if problems:
        raise DataValidationError("need", problems)
    need = need.transpose(*NEED_DIMS).astype(float)
    values = need.to_numpy()
    bad = ~np.isfinite(values) | (values < 0)
    if bad.any():
        la_bad, service_bad = bad.any(axis=(0, 1, 3)), bad.any(axis=(0, 1, 2))
        la_codes = as_codes(need[dims.LA].to_numpy())[la_bad]
        services = as_codes(need[dims.SERVICE].to_numpy())[service_bad]
        problems.append(f"{int(bad.sum())} value(s) are NaN, infinite or negative; demand must "
                        f"be finite and >= 0 (LA(s) {list(la_codes[:8])}, service(s) "
                        f"{list(services)})")
        raise DataValidationError("need", problems)
    names = (as_codes(need[dims.LA_NAME].to_numpy()) if dims.LA_NAME in need.coords
             else as_codes(need[dims.LA].to_numpy()))
    coords = {dims.CHAIN: need[dims.CHAIN].to_numpy(), dims.DRAW: need[dims.DRAW].to_numpy(),
              dims.LA: as_codes(need[dims.LA].to_numpy()),
              dims.SERVICE: as_codes(need[dims.SERVICE].to_numpy()),
              dims.LA_NAME: (dims.LA, names)}
    return xr.DataArray(values, dims=NEED_DIMS, coords=coords, name="need")


def per_la_values(values: PerLA, la_codes: np.ndarray, name: str) -> np.ndarray:
    """Align per-LA values to ``la_codes``: every LA present, no unknown or repeated codes.

    Parameters
    ----------
    values
        Values keyed by LA code.
    la_codes
        The LA codes of ``need``, in order.
    name
        Argument name used in error messages.

    Returns
    -------
    numpy.ndarray
        Float values in the order of ``la_codes``.

    Raises
    ------
    DataValidationError
        For the wrong type, missing, unknown or duplicate codes, or non-numeric values.
    """
    if isinstance(values, xr.DataArray):
        if values.dims != (dims.LA,) or dims.LA not in values.coords:
            raise DataValidationError(name, [f"a DataArray must have exactly one dim "
                                             f"'{dims.LA}' with LA-code labels, got dims "
                                             f"{list(values.dims)}"])
        series = pd.Series(values.to_numpy(), index=as_codes(values[dims.LA].to_numpy()))
    elif isinstance(values, pd.Series | Mapping):
        series = pd.Series(values)
        series.index = as_codes(series.index)
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


def baseline_shares(baseline: PerLA, la_codes: np.ndarray) -> np.ndarray:
    """Return baseline shares per LA: values normalised to sum to 1.

    Parameters
    ----------
    baseline
        Shares or amounts keyed by LA code (see :func:`per_la_values`).
    la_codes
        The LA codes of ``need``, in order.

    Returns
    -------
    numpy.ndarray
        Shares in the order of ``la_codes``.

    Raises
    ------
    DataValidationError
        If a value is negative or not finite, or all are 0.
    """
    values = per_la_values(baseline, la_codes, "baseline")
    bad = ~np.isfinite(values) | (values < 0)
    if bad.any():
        raise DataValidationError("baseline", [f"values must be finite and >= 0; bad at LA(s) "
                                               f"{list(la_codes[bad][:8])}"])
    total = values.sum()
    if total <= 0:
        raise DataValidationError("baseline", ["values sum to 0; give baseline shares or "
                                               "amounts for at least one LA"])
    return values / total


def area_cost_multipliers(aca: PerLA, la_codes: np.ndarray) -> np.ndarray:
    """Return the area cost adjustment per LA, in the order of ``la_codes``.

    Raises
    ------
    DataValidationError
        If the codes do not match (see :func:`per_la_values`) or a multiplier is not finite
        and > 0.
    """
    values = per_la_values(aca, la_codes, "area_cost_adjustment")
    bad = ~np.isfinite(values) | (values <= 0)
    if bad.any():
        raise DataValidationError("area_cost_adjustment", [
            f"multipliers must be finite and > 0; bad at LA(s) {list(la_codes[bad][:8])}"])
    return values


def _cost_weight_array(cost_weights: CostWeights) -> xr.DataArray:
    """Return cost weights as a DataArray (unchecked beyond their type)."""
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
                            coords={dims.SERVICE: as_codes(series.index)})
    raise DataValidationError("cost_weights", [
        f"expected a mapping or Series keyed by service, or a DataArray with a "
        f"'{dims.SERVICE}' dim, got {type(cost_weights).__name__}"])


def aligned_cost_weights(cost_weights: CostWeights, need: xr.DataArray) -> xr.DataArray:
    """Validate cost weights and align them to the services of ``need``.

    Parameters
    ----------
    cost_weights
        Fixed weights (dim ``service`` only) or draws (dims ``(chain, draw, service)`` or
        ``(sample, service)``); finite and >= 0. Services not in ``need`` are dropped.
    need
        Validated demand draws (see :func:`check_need`).

    Returns
    -------
    xarray.DataArray
        Float weights in the service order of ``need``, draw dims kept.

    Raises
    ------
    DataValidationError
        For wrong dims or labels, a service of ``need`` without a weight, or a bad value.
    """
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
    weights = weights.assign_coords({dims.SERVICE: as_codes(weights[dims.SERVICE].to_numpy())})
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


def paired_cost_weights(cost_weights: CostWeights, need: xr.DataArray,
                        random_seed: int | None) -> tuple[xr.DataArray, str]:
    """Pair cost-weight draws with demand draws, one weight draw per demand draw.

    The rule is in the module docstring.

    Parameters
    ----------
    cost_weights
        Fixed weights or draws (see :func:`aligned_cost_weights`).
    need
        Validated demand draws (see :func:`check_need`).
    random_seed
        Seeds the pairing when the draw counts differ; required then.

    Returns
    -------
    weights : xarray.DataArray
        Weights aligned to the services of ``need``: dims ``(service,)`` when fixed, else
        ``(chain, draw, service)`` with the coords of ``need``.
    pairing : str
        How the draws were paired, for the output's header.

    Raises
    ------
    ConfigError
        If the draw counts differ and ``random_seed`` is ``None``.
    """
    weights = aligned_cost_weights(cost_weights, need)
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


def check_pot(pot: float | None) -> float | None:
    """Return the pot as a float, or ``None`` (shares only).

    Raises
    ------
    ConfigError
        If ``pot`` is not a finite number > 0.
    """
    if pot is None:
        return None
    if isinstance(pot, bool) or not isinstance(pot, int | float | np.number) \
            or not math.isfinite(pot) or pot <= 0:
        raise ConfigError(f"pot must be a finite number > 0 (the national total to share), "
                          f"got {pot!r}")
    return float(pot)


def check_currency(currency: str) -> str:
    """Return the currency code, an ISO 4217 code of three capital letters (``"GBP"``).

    Raises
    ------
    ConfigError
        If ``currency`` is not three capital letters.
    """
    if not isinstance(currency, str) or len(currency) != 3 or not currency.isascii() \
            or not currency.isalpha() or not currency.isupper():
        raise ConfigError(f"currency must be an ISO 4217 code of three capital letters such "
                          f"as 'GBP', got {currency!r}")
    return currency
