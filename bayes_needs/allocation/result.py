"""The :class:`Allocation` result: per-draw allocation draws, their summary table and files."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from bayes_needs.allocation.damping import Damping
from bayes_needs.core import dims
from bayes_needs.core.defaults import CURRENCY
from bayes_needs.core.errors import BayesNeedsError, MissingDataError
from bayes_needs.core.idata import CONFIG_ATTR, KIND_ATTR
from bayes_needs.core.intervals import (
    IntervalKind,
    check_interval,
    credible_interval,
    describe_interval,
)
from bayes_needs.core.outputs import write_csv, write_netcdf
from bayes_needs.core.units import annotate

#: Value of the ``bayes_needs_kind`` attribute of a saved allocation.
ALLOCATION_KIND = "allocation"
#: Name of the money variable in allocations saved before it was called ``allocation``.
LEGACY_MONEY = "amount"
#: Summary settings recorded as entries of the CSV's metadata sidecar.
SIDECAR_KEYS = ("interval_prob", "interval_kind", "n_draws", "pot", "currency")


@dataclass(frozen=True, eq=False)
class Allocation:
    """Per-draw allocation results and their summaries.

    Build it with :func:`bayes_needs.allocation.allocate`, or load a saved one with
    :meth:`from_netcdf`.

    Attributes
    ----------
    draws
        Dataset with dims ``(chain, draw, la[, service])`` holding ``need`` (demand per LA and
        service), ``cost_weight`` (the weight paired with each draw, or fixed), ``contribution``
        (need x weight x area cost adjustment per LA and service), ``weighted_need``,
        ``share``, ``rank`` (1 = largest share), ``allocation`` (``share x pot`` in the pot's
        currency, when a pot was given),
        ``share_undamped`` (when damped), ``baseline_share`` and ``area_cost_adjustment`` (when
        given). Settings are stored in the attrs (``interval_prob``, ``interval_kind``,
        ``pot``, ``currency``, ``damping_floor``, ``damping_cap``, ``cost_weight_pairing``
        and the JSON config under ``bayes_needs_config``). Every variable carries CF ``units`` and
        ``long_name`` (:mod:`bayes_needs.core.units`).
    """

    draws: xr.Dataset

    # ------------------------------------------------------------------ settings
    @property
    def config(self) -> dict[str, Any]:
        """Settings used to build the allocation."""
        config: dict[str, Any] = json.loads(self.draws.attrs[CONFIG_ATTR])
        return config

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
        pot: float | None = self.config["pot"]
        return pot

    @property
    def currency(self) -> str:
        """ISO 4217 code of the pot's currency (GBP for allocations saved before it was)."""
        return str(self.config.get("currency", CURRENCY))

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
        """Summarise the draws as a tidy table, one row per LA.

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
            ``n_draws``, ``pot``, ``currency`` and ``comment`` (the description
            :meth:`to_csv` writes to the metadata sidecar).
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
            "la_name": ds[dims.LA_NAME].to_numpy().astype(str),
            "share_mean": share.mean(dims.SAMPLE_DIMS).to_numpy(),
            "share_median": share.median(dims.SAMPLE_DIMS).to_numpy(),
            "share_lower": share_lower.to_numpy(),
            "share_upper": share_upper.to_numpy(),
            "rank_median": ds["rank"].median(dims.SAMPLE_DIMS).to_numpy(),
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
            columns["prob_gain"] = (share > ds["baseline_share"]).mean(
                dims.SAMPLE_DIMS).to_numpy()
        columns["share_sd"] = share.std(dims.SAMPLE_DIMS).to_numpy()
        columns["weighted_need_mean"] = ds["weighted_need"].mean(dims.SAMPLE_DIMS).to_numpy()
        frame = pd.DataFrame(columns)
        n_draws = int(ds.sizes[dims.CHAIN] * ds.sizes[dims.DRAW])
        frame.attrs.update({
            "interval_prob": prob, "interval_kind": kind, "n_draws": n_draws, "pot": pot,
            "currency": self.currency, "comment": self._comment(prob, kind, n_draws),
        })
        return frame

    def _comment(self, prob: float, kind: str, n_draws: int) -> str:
        """Describe the summary CSV: interval, pot, damping and cost-weight pairing."""
        lines = [f"interval: {describe_interval(prob, kind)} ({kind}) over {n_draws} "
                 f"posterior draws"]
        if self.pot is not None:
            lines.append(f"pot: {self.pot:.10g} {self.currency}")
        damping = self.damping
        if damping is not None:
            lines.append(f"damping: floor={damping.floor}, cap={damping.cap} (relative change "
                         f"of share vs baseline, budget neutral per draw)")
        lines.append(f"cost weights: {self.config['cost_weight_pairing']}")
        return "\n".join(lines)

    def to_csv(self, path: str | Path, *, interval_prob: float | None = None,
               interval_kind: IntervalKind | None = None) -> Path:
        """Write :meth:`summary` atomically, described in its sidecar ``*.meta.json``.

        The CSV holds the table only (plain ``pandas.read_csv`` reads it); the interval, pot,
        currency, damping and each column's units go to the metadata sidecar
        (:func:`bayes_needs.core.writers.write_csv`).

        Parameters
        ----------
        path
            The CSV file.
        interval_prob, interval_kind
            Override the interval settings stored with the allocation.

        Returns
        -------
        pathlib.Path
            ``path``.
        """
        frame = self.summary(interval_prob=interval_prob, interval_kind=interval_kind)
        metadata = {key: frame.attrs[key] for key in SIDECAR_KEYS}
        return write_csv(path, frame, comment=frame.attrs["comment"], metadata=metadata,
                         currency=self.currency)

    # ------------------------------------------------------------------ persistence
    def to_netcdf(self, path: str | Path) -> Path:
        """Write the draws and settings to netCDF atomically and return ``path``.

        Every variable carries CF ``units`` and ``long_name`` (:mod:`bayes_needs.core.units`).
        """
        return write_netcdf(path, annotate(self.draws, currency=self.currency))

    @classmethod
    def from_netcdf(cls, path: str | Path) -> Allocation:
        """Read an allocation written by :meth:`to_netcdf`.

        Parameters
        ----------
        path
            The netCDF file.

        Returns
        -------
        Allocation
            With the draws loaded into memory.

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
        if LEGACY_MONEY in ds and "allocation" not in ds:  # saved before money had one name
            ds = ds.rename_vars({LEGACY_MONEY: "allocation"})
        return cls(ds)
