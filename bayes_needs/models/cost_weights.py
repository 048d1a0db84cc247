"""Relative cost weights: bottom-up unit-cost priors fused with LA spend returns.

For LA ``l`` and spend category ``c`` (an RO3 line) with reported spend ``S_lc`` (thousand
pounds)::

    log S_lc      ~ StudentT(spend_nu, log(price_l * E_lc), spend_sigma_c)        robust
    E_lc          = sum_{k in c} unit_cost_k * A_lk / 1000                           expected spend
    A_lk          = volume_{l, v(k)} * mix_{l, p(k)}     (the mix term only for activities
                                                          tied to a placement type)
    log unit_cost_k ~ Normal(log(prior median_k), sd_log_k)       unit-cost table (priors)
    log price_l   = price_sd * z_l,  z ~ ZeroSumNormal(1)          LA price/efficiency factor
    mix_l         = softmax(log national_mix + mix_sd * u_l),  u_l ~ Normal(0, 1)
    weight_k      = unit_cost_k / unit_cost_reference

``unit_cost_k`` is the national unit cost at an LA with price factor one (log price factors
sum to zero, so that is the geometric-mean LA);
``weight_k`` is relative to a stated reference activity (weight 1). Both are kept in the
posterior with dims ``(chain, draw, activity)``. ``price_l`` is shared by all of an LA's lines,
so a council that is dear (or records generously) across the board moves no weight; a single
line out of line with the rest lands in the Student-t tails. Latent placement mixes let one
LA volume (e.g. weeks in care) feed several lines (fostering, residential) whose split is not
observed; their prior is centred on the national mix (on the logit scale).

Which activities feed which line, and how activity weights map onto demand services for
allocation, is a :class:`CostDesign`; the England design and its data alignment are in
:mod:`bayes_needs.data.readers.costs`. Cells that cannot enter the log-scale likelihood
(spend missing, zero or negative; a needed volume missing; no activity) are dropped and
listed in :attr:`CostWeightModel.dropped`, never a failure.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import arviz as az
import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt
import xarray as xr
from pymc_extras.prior import Prior

from bayes_needs.config.prior_specs import COST_WEIGHT_PRIORS
from bayes_needs.config.priors import (
    check_prior_shapes,
    prior_source,
    priors_to_config,
    resolve_priors,
)
from bayes_needs.core import dims
from bayes_needs.core import idata as idata_io
from bayes_needs.core.errors import ConfigError, DataValidationError
from bayes_needs.data.cost_design import THOUSAND, CostDesign
from bayes_needs.data.spend import SpendData
from bayes_needs.data.unit_costs import UnitCostPriors, parse_unit_costs
from bayes_needs.models.base import FittableModel

KIND = "cost_weights"
#: The model's hyperpriors: dims and support of each (one declaration, checked on every file).
PRIORS = COST_WEIGHT_PRIORS
PRIOR_NAMES: tuple[str, ...] = tuple(PRIORS)
#: Variables whose convergence gates a fit.
MONITORED: tuple[str, ...] = ("unit_cost", "price_sd", "spend_sigma", "spend_nu", "mix_sd")
LIKELIHOOD = "log_spend"
#: NUTS target acceptance rate of cost-weight fits: higher than the demand models' default,
#: because the Student-t tails and the placement mixes give a more varied posterior geometry.
TARGET_ACCEPT = 0.95


def spend_hash(spend: SpendData) -> str:
    """Stable hash of the spend and volume tables a fit depends on."""
    h = hashlib.sha256()
    for frame, keys, value in ((spend.spend, ["la_code", "category"], "spend"),
                               (spend.volumes, ["la_code", "activity"], "volume")):
        part = frame[[*keys, value]].sort_values(keys).reset_index(drop=True)
        h.update(",".join(part.columns).encode())
        h.update(pd.util.hash_pandas_object(part, index=False).to_numpy().tobytes())
    return h.hexdigest()[:16]


class CostWeightModel(FittableModel):
    """Robust hierarchical regression of LA spend on activity volumes (module docstring).

    Parameters
    ----------
    spend
        LA spend per category and activity volumes per LA; an optional ``la_name`` column
        in ``spend.spend`` is carried into outputs.
    unit_costs
        Unit-cost priors (:func:`bayes_needs.data.unit_costs.load_unit_costs`).
    design
        Activities per category, volumes, placement mix and service mapping.
    priors
        Hyperprior overrides by variable name (file, config mapping or name -> Prior);
        defaults in ``priors/cost_weights.toml``.
    """

    KIND: ClassVar[str] = KIND
    MONITORED: ClassVar[tuple[str, ...]] = MONITORED
    RUN_INFO: ClassVar[tuple[str, ...]] = ("random_seed", "draws", "tune", "chains",
                                           "target_accept")
    DEFAULT_TARGET_ACCEPT: ClassVar[float] = TARGET_ACCEPT
    POINTWISE_LOG_LIKELIHOOD: ClassVar[tuple[str, ...]] = (LIKELIHOOD,)

    def __init__(self, spend: SpendData, unit_costs: UnitCostPriors, design: CostDesign,
                 priors: str | Path | Mapping | None = None):
        problems = design.problems(unit_costs.activities)
        if problems:
            raise ConfigError("cost design does not fit the unit-cost table: "
                              + "; ".join(problems))
        self.spend, self.unit_costs, self.design = spend, unit_costs, design
        self.priors: dict[str, Prior] = resolve_priors("cost_weights", priors, PRIORS)
        self.activities = design.activities
        self.reference = unit_costs.reference
        self.placements = tuple(design.placements)
        self._prepare()
        check_prior_shapes(self.priors, PRIORS, self.coords,
                           source=prior_source("cost_weights", priors))
        self.model: pm.Model | None = None

    # ------------------------------------------------------------------ data
    def _prepare(self) -> None:
        spend = self.spend.spend
        names = (spend.drop_duplicates("la_code").set_index("la_code")["la_name"]
                 if "la_name" in spend.columns else pd.Series(dtype=str))
        vol = self.spend.volumes.pivot(index="la_code", columns="activity", values="volume")
        dropped, kept = [], []
        amounts = spend["spend"].to_numpy(dtype=float)
        for row, amount in zip(spend.itertuples(index=False), amounts, strict=True):
            category = str(row.category)
            if category not in self.design.categories:
                continue
            acts = self.design.categories[category]
            needed = sorted({self.design.volumes[a] for a in acts})
            have = vol.reindex(index=[row.la_code], columns=needed).iloc[0]
            reason = None
            if have.isna().any():
                reason = f"activity volume(s) {list(have.index[have.isna()])} missing"
            elif not np.isfinite(amount) or amount <= 0:
                reason = f"spend is {amount:g}; the log-scale likelihood needs spend > 0"
            elif float(have.sum()) <= 0:
                reason = "every activity volume of this category is 0"
            if reason:
                dropped.append((row.la_code, row.category, reason))
            else:
                kept.append(row)
        if not kept:
            raise DataValidationError(self.spend.source, [
                "no (LA, category) cell can be modelled: every cell lacks spend > 0 or an "
                "activity volume; see the dropped-cell list"] + [
                f"{la} {cat}: {why}" for la, cat, why in dropped[:10]])
        cells = pd.DataFrame(kept)
        self.la_codes = np.array(sorted(set(cells["la_code"])), dtype=object)
        self.categories = tuple(c for c in self.design.categories if c in set(cells["category"]))
        self.la_names = np.array([str(names.get(c, c)) for c in self.la_codes], dtype=object)
        la_index = {c: i for i, c in enumerate(self.la_codes)}
        self.cell_la = cells["la_code"].map(la_index).to_numpy(np.int64)
        self.cell_category = cells["category"].map(
            {c: i for i, c in enumerate(self.categories)}).to_numpy(np.int64)
        self.log_spend = np.log(cells["spend"].to_numpy(float))
        self.cells = cells[["la_code", "category", "spend"]].reset_index(drop=True)
        design_matrix = np.zeros((len(cells), len(self.activities)))
        for k, act in enumerate(self.activities):
            member = cells["category"].map(
                lambda c, a=act: a in self.design.categories[c]).to_numpy(bool)
            volume = vol.reindex(cells["la_code"])[self.design.volumes[act]].to_numpy(float)
            design_matrix[member, k] = volume[member] / THOUSAND
        self.design_matrix = design_matrix
        place_index = {p: j for j, p in enumerate(self.placements)}
        # Activities without a placement read a column of ones appended after the mix.
        no_placement = len(self.placements)
        placement_of = {a: place_index.get(p, no_placement)
                        for a, p in self.design.activity_placement.items()}
        self.activity_placement_index = np.array(
            [placement_of.get(a, no_placement) for a in self.activities], dtype=np.int64)
        self.dropped = pd.DataFrame(dropped, columns=["la_code", "category", "reason"])
        self.dropped.insert(1, "la_name", [str(names.get(c, c)) for c in self.dropped["la_code"]])
        prior = self.unit_costs.unit_costs.table.set_index("activity").loc[list(self.activities)]
        self.prior_median = prior["unit_cost"].to_numpy(float)
        self.prior_sd_log = prior["sd_log"].to_numpy(float)

    @property
    def coords(self) -> dict[str, Any]:
        """Model coordinates."""
        coords = {dims.ACTIVITY: list(self.activities), dims.CATEGORY: list(self.categories),
                  dims.LA: list(self.la_codes), dims.CELL: np.arange(len(self.cells))}
        if self.placements:
            coords[dims.PLACEMENT] = list(self.placements)
        return coords

    def la_name_labels(self) -> np.ndarray:
        """Return the name of each LA of the ``la`` dim (shown with the codes by ArviZ)."""
        return self.la_names

    def data_hash(self) -> str:
        """Hash of the spend data (see :func:`spend_hash`)."""
        return spend_hash(self.spend)

    # ------------------------------------------------------------------ model
    def build_model(self) -> pm.Model:
        """Build (and cache) the PyMC model."""
        n_la = len(self.la_codes)
        with pm.Model(coords=self.coords) as model:
            log_cost = pm.Normal("log_unit_cost", mu=np.log(self.prior_median),
                                 sigma=self.prior_sd_log, dims=dims.ACTIVITY)
            unit_cost = pm.Deterministic("unit_cost", pt.exp(log_cost), dims=dims.ACTIVITY)
            ref = self.activities.index(self.reference)
            pm.Deterministic("weight", pt.exp(log_cost - log_cost[ref]), dims=dims.ACTIVITY)
            price_sd = self.priors["price_sd"].create_variable("price_sd")
            # Zero-sum: the common price level would otherwise duplicate the unit-cost level,
            # a ridge that mixes slowly (RO3 2024-25: price_sd bulk ESS 111 with independent
            # factors, 228 zero-sum; centring or partially centring them did worse, 8 and 45).
            price_raw = pm.ZeroSumNormal("price_raw", sigma=1.0, dims=dims.LA)
            log_price = pm.Deterministic("log_price", price_sd * price_raw, dims=dims.LA)
            if self.placements:
                mix_sd = self.priors["mix_sd"].create_variable("mix_sd")
                mix_raw = pm.Normal("mix_raw", 0.0, 1.0, dims=(dims.LA, dims.PLACEMENT))
                base = np.log(np.asarray(list(self.design.placements.values()), float))
                mix = pm.Deterministic("placement_mix",
                                       pt.special.softmax(base + mix_sd * mix_raw, axis=1),
                                       dims=(dims.LA, dims.PLACEMENT))
                multiplier = pt.concatenate([mix, pt.ones((n_la, 1))], axis=1)
            else:
                multiplier = pt.ones((n_la, 1))
            # Gather rows then columns: small dense arrays, no BLAS needed.
            cell_multiplier = multiplier[self.cell_la][:, self.activity_placement_index]
            expected = (pt.as_tensor(self.design_matrix) * cell_multiplier
                        * unit_cost[None, :]).sum(axis=1)
            sigma = self.priors["spend_sigma"].create_variable("spend_sigma")
            nu = self.priors["spend_nu"].create_variable("spend_nu")
            pm.StudentT(LIKELIHOOD, nu=nu, mu=pt.log(expected) + log_price[self.cell_la],
                        sigma=sigma[self.cell_category], observed=self.log_spend,
                        dims=dims.CELL)
        self.model = model
        return model

    # ------------------------------------------------------------------ fits
    def stored_config(self) -> dict[str, Any]:
        """Return everything needed to rebuild this model on the same data."""
        return {"design": self.design.to_dict(), "unit_costs": self.unit_costs.to_config(),
                "unit_costs_source": self.unit_costs.source,
                "priors": priors_to_config(self.priors), "reference": self.reference,
                "activities": list(self.activities), "la_codes": list(self.la_codes),
                "la_names": list(self.la_names), "spend_source": self.spend.source,
                "year": self.spend.year}

    @classmethod
    def load(cls, path: str | Path, spend: SpendData
             ) -> tuple[CostWeightModel, az.InferenceData]:
        """Load a saved fit, checking it was made on ``spend``.

        Parameters
        ----------
        path
            A file written by :meth:`save`.
        spend
            The spend data the fit was made on.

        Returns
        -------
        tuple
            The rebuilt model and the fit.

        Raises
        ------
        DataHashMismatchError
            If ``spend`` differs from the data the fit was made on.
        """
        return cls.read_fit(path, spend_hash(spend), lambda config, priors: cls(
            spend, parse_unit_costs(config["unit_costs"], source=config["unit_costs_source"]),
            CostDesign.from_dict(config["design"]), priors))

    def without_las(self, la_codes: Sequence[str]) -> CostWeightModel:
        """Return the same model on the data without the LAs ``la_codes`` (exact LOO refits).

        Parameters
        ----------
        la_codes
            LAs to leave out.
        """
        drop = set(la_codes)
        spend = SpendData(self.spend.spend[~self.spend.spend["la_code"].isin(drop)]
                          .reset_index(drop=True),
                          self.spend.volumes[~self.spend.volumes["la_code"].isin(drop)]
                          .reset_index(drop=True),
                          self.spend.year, f"{self.spend.source} without {sorted(drop)}")
        return type(self)(spend, self.unit_costs, self.design, self.priors)

    # ------------------------------------------------------------------ outputs
    def la_log_likelihood(self, idata: az.InferenceData) -> xr.DataArray:
        """Pointwise log-likelihood summed over each LA's categories: dims (chain, draw, la)."""
        ll = idata_io.log_likelihood(idata)
        if ll is None or LIKELIHOOD not in ll:
            raise ConfigError("the fit has no log_likelihood group; refit with "
                              "CostWeightModel.fit")
        cell = ll[LIKELIHOOD].transpose(dims.CHAIN, dims.DRAW, dims.CELL).to_numpy()
        per_la = np.zeros((*cell.shape[:2], len(self.la_codes)))
        # numpy's stubs reject a tuple of slices and an index array, which numpy accepts.
        np.add.at(per_la, (slice(None), slice(None), self.cell_la), cell)  # type: ignore[arg-type]
        post = idata_io.posterior(idata)
        return xr.DataArray(per_la, dims=(dims.CHAIN, dims.DRAW, dims.LA),
                            coords={dims.CHAIN: post[dims.CHAIN].values,
                                    dims.DRAW: post[dims.DRAW].values,
                                    dims.LA: list(self.la_codes),
                                    dims.LA_NAME: (dims.LA, list(self.la_names))},
                            name="la_log_likelihood")


def service_weights(idata: az.InferenceData,
                    services: Sequence[str] | None = None) -> xr.DataArray:
    """Per-service cost-weight draws, dims (chain, draw, service), from a cost-weight fit.

    Each service's weight is the linear combination of activity weights given by the fit's
    design ``service_map`` (stored with the fit), draw by draw, so draws stay joint.

    Parameters
    ----------
    services
        Services wanted (default: every mapped service); unknown ones are an error.
    """
    config = idata_io.get_config(idata)
    mapping = CostDesign.from_dict(config["design"]).service_map
    if not mapping:
        raise ConfigError("this cost-weight fit has no service mapping (design.service_map)")
    services = list(mapping) if services is None else list(services)
    unknown = [s for s in services if s not in mapping]
    if unknown:
        raise ConfigError(f"the cost-weight fit maps no weight to service(s) {unknown}; it "
                          f"covers {list(mapping)}")
    weight = idata_io.posterior(idata)["weight"]
    parts = []
    for service in services:
        total = xr.zeros_like(weight.isel({dims.ACTIVITY: 0}, drop=True))
        for activity, coefficient in mapping[service].items():
            total = total + float(coefficient) * weight.sel({dims.ACTIVITY: activity}, drop=True)
        parts.append(total)
    out = xr.concat(parts, dim=dims.SERVICE).assign_coords({dims.SERVICE: services})
    out.attrs["reference"] = config["reference"]
    return out.transpose(dims.CHAIN, dims.DRAW, dims.SERVICE).rename("service_weight")
