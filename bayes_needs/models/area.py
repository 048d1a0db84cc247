"""Area-based hierarchical demand model.

For service ``s`` and LSOA ``i`` in MSOA ``m`` in LA ``l``::

    lambda_i      = E_i * exp(intercept_s + z_i . beta_s)        fixed (covariate) part
    mean_i        = lambda_i * exp(la_effect_ls) * g_ms * h_is      with effects
    la_effect     ~ Normal(0, sigma_la_s)            (optionally correlated across services)
    g_ms          ~ Gamma(1/msoa_cv_s^2, 1/msoa_cv_s^2)     mean-one MSOA effect
    h_is          : within-MSOA LSOA effect (Dirichlet), family "negbin" only

The MSOA effects are integrated out analytically (gamma-Poisson conjugacy), so the sampler
never sees ~6.8k MSOA parameters per service:

* an MSOA total is exactly ``NegativeBinomial(mu = exp(la_effect) * Lambda_m, alpha = a)``
  with ``Lambda_m = sum_i lambda_i`` and ``a = 1/msoa_cv^2`` (PyMC's NB ``alpha`` is the gamma
  shape: ``Var = mu + mu^2 / alpha``);
* LSOA counts given their MSOA total are multinomial with probabilities ``lambda_i / Lambda_m``
  (family ``poisson``) or Dirichlet-multinomial with concentrations
  ``lambda_i / lsoa_dispersion`` (family ``negbin``; NB1-type overdispersion,
  ``Var(y_i) ~ mu_i (1 + lsoa_dispersion)``), so LSOA effects redistribute an MSOA's total;
* an LA total (a sum of MSOA negative binomials with different means) is approximated by a
  moment-matched negative binomial with ``alpha_l = a * (sum Lambda_m)^2 / sum Lambda_m^2``.

So LSOA, MSOA and LA-total returns all inform the same parameters (aggregation-consistent).
LAs without data still get predictions from the covariates and the LA-effect distribution.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

import arviz as az
import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt
import xarray as xr
from pymc_extras.prior import Prior

from bayes_needs.config.priors import priors_to_config, resolve_priors
from bayes_needs.core import dims
from bayes_needs.core import idata as idata_io
from bayes_needs.core.errors import ConfigError
from bayes_needs.core.segments import multinomial_split
from bayes_needs.data.containers import AreaData
from bayes_needs.data.covariates import standardise
from bayes_needs.models.count_likelihoods import log_rising_factorial, negative_binomial_logp
from bayes_needs.models.kernels import segment_sum
from bayes_needs.models.la_effects import (
    LA_PARAMETERISATIONS,
    exposure_concentration,
    log_rate_variance,
    partially_centred_la_effects,
)
from bayes_needs.models.sampling import sample_nuts

KIND = "area"
PRIOR_NAMES: tuple[str, ...] = ("intercept", "beta", "sigma_la", "msoa_cv", "lsoa_dispersion",
                                "la_corr")
#: Hyperparameters whose convergence gates a fit.
HYPERPARAMETERS: tuple[str, ...] = ("intercept", "beta", "sigma_la", "msoa_cv",
                                    "lsoa_dispersion", "la_corr")
Standardisation = Literal["la", "none", "all"]


@dataclass(frozen=True)
class AreaModelConfig:
    """Structural choices of the area model.

    Parameters
    ----------
    family
        ``"negbin"``: LSOA counts overdispersed within their MSOA (Dirichlet-multinomial);
        ``"poisson"``: no LSOA-level extra variation (multinomial).
    la_effects
        Include LA ("policy") random effects.
    msoa_effects
        Include gamma MSOA random effects (integrated out analytically).
    correlated_la
        Correlate LA effects across services (LKJ prior ``la_corr``).
    covariates
        Covariate columns to use; ``None`` uses every covariate in the data.
    la_parameterisation
        How the sampler sees the (uncorrelated) LA effects. ``"adaptive"`` (default): each
        (LA, service) cell is partially centred with a weight ``w = sigma_la^2 /
        (sigma_la^2 + v)``, where ``v ~ 1/n + msoa_cv^2 * sum_m E_m^2 / (sum_m E_m)^2`` is the
        sampling variance of the LA's log rate from its ``n`` observed events and its MSOA
        noise. Cells the data pin down are centred (``w`` near 1), cells with little data,
        small ``sigma_la`` or large MSOA noise are non-centred (``w`` near 0), so neither the
        funnel nor the intercept ridge appears. ``"centred"``/``"noncentred"`` force ``w = 1``
        (cells with no data stay non-centred) or ``w = 0``. Every choice is the same model.
    """

    family: Literal["negbin", "poisson"] = "negbin"
    la_effects: bool = True
    msoa_effects: bool = True
    correlated_la: bool = False
    covariates: tuple[str, ...] | None = None
    la_parameterisation: Literal["adaptive", "centred", "noncentred"] = "adaptive"

    def __post_init__(self) -> None:
        if self.family not in ("negbin", "poisson"):
            raise ConfigError(f"family must be 'negbin' or 'poisson', got {self.family!r}")
        for name in ("la_effects", "msoa_effects", "correlated_la"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name} must be true or false, got "
                                  f"{getattr(self, name)!r}")
        if self.correlated_la and not self.la_effects:
            raise ConfigError("correlated_la needs la_effects = true")
        if self.covariates is not None:
            object.__setattr__(self, "covariates", tuple(self.covariates))
        if self.la_parameterisation not in LA_PARAMETERISATIONS:
            raise ConfigError(f"la_parameterisation must be one of {LA_PARAMETERISATIONS}, "
                              f"got {self.la_parameterisation!r}")

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None) -> AreaModelConfig:
        """Build from a plain mapping, rejecting unknown keys by name."""
        values = dict(values or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"unknown area model option(s) {unknown}; known: {sorted(known)}")
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able mapping."""
        out = asdict(self)
        out["covariates"] = list(self.covariates) if self.covariates is not None else None
        return out


@dataclass
class _ServiceObservations:
    """Observation index arrays of one service, in the model's compact form."""

    msoa_pos: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    msoa_count: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    la_pos: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    la_count: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    lsoa_pos: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    lsoa_count: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    #: for each observed LSOA, index into ``split_msoa_pos``
    lsoa_group: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    split_msoa_pos: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    split_msoa_count: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))


class AreaDemandModel:
    """Hierarchical Poisson/negative-binomial area demand model (see the module docstring).

    Parameters
    ----------
    data
        Validated area data.
    config
        Structural options (:class:`AreaModelConfig` or a mapping of its fields).
    priors
        Prior overrides by variable name: a prior file path, a config mapping, or a mapping of
        name -> :class:`pymc_extras.prior.Prior`/prior dict. Defaults: ``priors/area.toml``.
    """

    def __init__(self, data: AreaData, config: AreaModelConfig | dict | None = None,
                 priors: str | Path | dict | None = None):
        self.data = data
        self.config = config if isinstance(config, AreaModelConfig) else \
            AreaModelConfig.from_dict(config)
        self.priors: dict[str, Prior] = resolve_priors("area", priors, PRIOR_NAMES)
        covs = self.config.covariates
        if covs is None:
            covs = data.covariate_names
        unknown = sorted(set(covs) - set(data.covariate_names))
        if unknown:
            raise ConfigError(f"covariate(s) {unknown} are not in the data; available: "
                              f"{list(data.covariate_names)}")
        self.covariate_names = tuple(covs)
        if self.covariate_names:
            z, self.covariate_mean, self.covariate_std = standardise(
                data.covariates[list(self.covariate_names)])
            self.z = z.to_numpy(dtype=float)
        else:
            self.z = np.zeros((data.geography.n_lsoa, 0))
            self.covariate_mean = self.covariate_std = pd.Series(dtype=float)
        self.services = data.services
        self._observations = {s: self._prepare(s) for s in self.services}
        self.model: pm.Model | None = None

    # ------------------------------------------------------------------ data preparation
    def _prepare(self, service: str) -> _ServiceObservations:
        geo, data = self.data.geography, self.data
        obs = _ServiceObservations()
        exposure_msoa = geo.aggregate(data.exposure, dims.LSOA, dims.MSOA)
        lsoa_pos, lsoa_count = data.observed(service, dims.LSOA)
        msoa_pos, msoa_count = data.observed(service, dims.MSOA)
        if len(lsoa_pos):
            keep = data.exposure[lsoa_pos] > 0  # zero-exposure LSOAs carry no information
            lsoa_pos, lsoa_count = lsoa_pos[keep], lsoa_count[keep]
            parent = geo.lsoa_to_msoa[lsoa_pos]
            split_msoa, group = np.unique(parent, return_inverse=True)
            split_count = np.bincount(group, weights=lsoa_count).astype(np.int64)
            obs.lsoa_pos, obs.lsoa_count, obs.lsoa_group = lsoa_pos, lsoa_count, group
            obs.split_msoa_pos, obs.split_msoa_count = split_msoa, split_count
            # Their MSOA totals enter the MSOA-level likelihood.
            msoa_pos = np.concatenate([msoa_pos, split_msoa])
            msoa_count = np.concatenate([msoa_count, split_count])
        order = np.argsort(msoa_pos, kind="stable")
        msoa_pos, msoa_count = msoa_pos[order], msoa_count[order]
        keep = exposure_msoa[msoa_pos] > 0
        obs.msoa_pos, obs.msoa_count = msoa_pos[keep], msoa_count[keep]
        obs.la_pos, obs.la_count = data.observed(service, dims.LA)
        return obs

    @property
    def coords(self) -> dict[str, Any]:
        """Model coordinates (canonical dims plus one observation dim per service/level)."""
        geo = self.data.geography
        coords: dict[str, Any] = {dims.SERVICE: list(self.services),
                                  dims.COVARIATE: list(self.covariate_names),
                                  dims.LA: list(geo.la_codes)}
        for service, obs in self._observations.items():
            for level, pos in ((dims.LSOA, obs.lsoa_pos), (dims.MSOA, obs.msoa_pos),
                               (dims.LA, obs.la_pos)):
                if len(pos):
                    coords[dims.observation_dim(service, level)] = list(geo.codes(level)[pos])
        return coords

    def _initial_intercepts(self) -> np.ndarray:
        totals = self.data.la_totals()
        la_exposure = self.data.geography.aggregate(self.data.exposure, dims.LSOA, dims.LA)
        out = []
        for service in self.services:
            seen = totals[service].notna().to_numpy()
            count, expo = totals[service].to_numpy()[seen].sum(), la_exposure[seen].sum()
            out.append(np.log(max(count, 0.5) / expo) if expo > 0 else -4.0)
        return np.asarray(out)

    # ------------------------------------------------------------------ model
    def build_model(self) -> pm.Model:
        """Build (and cache) the PyMC model."""
        geo, cfg = self.data.geography, self.config
        n_services = len(self.services)
        with pm.Model(coords=self.coords) as model:
            self.model = model
            intercept = self.priors["intercept"].create_variable("intercept")
            beta = self.priors["beta"].create_variable("beta") if self.covariate_names \
                else None
            z, exposure = pt.as_tensor(self.z), pt.as_tensor(self.data.exposure)
            eta, fixed_rate, msoa_fixed = [], [], []
            for j in range(n_services):
                # One 1-d column per service, the covariate term a matrix-vector product:
                # the reductions of the gradient then run over contiguous memory.
                eta_j = intercept[j] + (pt.dot(z, beta[j]) if beta is not None
                                        else pt.zeros(geo.n_lsoa))
                rate_j = exposure * pt.exp(eta_j)
                eta.append(eta_j)
                fixed_rate.append(rate_j)
                msoa_fixed.append(segment_sum(rate_j, geo.lsoa_to_msoa, geo.n_msoa))

            msoa_cv = msoa_shape = None
            if cfg.msoa_effects:
                msoa_cv = self.priors["msoa_cv"].create_variable("msoa_cv")
                msoa_shape = 1.0 / pt.sqr(msoa_cv)
            la_effect = self._la_effects(n_services, pt.stack(msoa_fixed, axis=1), msoa_cv) \
                if cfg.la_effects else None
            lsoa_dispersion = None
            if cfg.family == "negbin" and any(len(o.lsoa_pos) for o in
                                              self._observations.values()):
                lsoa_dispersion = self.priors["lsoa_dispersion"].create_variable(
                    "lsoa_dispersion")

            for j, service in enumerate(self.services):
                obs = self._observations[service]
                msoa_col = msoa_fixed[j]  # the service's MSOA rates, for every term
                self._msoa_likelihood(service, j, obs, msoa_col, la_effect, msoa_shape)
                self._la_likelihood(service, j, obs, msoa_col, la_effect, msoa_shape)
                self._split_likelihood(service, j, obs, eta[j], fixed_rate[j], msoa_col,
                                       lsoa_dispersion)
        self.model = model
        return model

    def _la_data_summaries(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Data constants of the LA-effect parameterisation, per (LA, service).

        Returns ``(poisson, msoa, empirical)``: the sampling variance of an LA's log rate is
        about ``poisson + msoa_cv^2 * msoa`` with ``poisson = 1/(n + 0.5)`` from its ``n``
        observed events (``inf`` where the LA has no data for the service or no children)
        and ``msoa = sum_m E_m^2 / (sum_m E_m)^2`` the MSOA-noise factor of its exposure;
        ``empirical = log((n + 0.5) / E_l)`` is its observed log rate (0 without data).
        """
        geo = self.data.geography
        totals = self.data.la_totals().to_numpy(dtype=float)
        msoa_exposure = geo.aggregate(self.data.exposure, dims.LSOA, dims.MSOA)
        la_exposure = geo.aggregate(msoa_exposure, dims.MSOA, dims.LA)
        msoa = exposure_concentration(msoa_exposure, geo.msoa_to_la, geo.n_la)
        usable = ~np.isnan(totals) & (la_exposure[:, None] > 0)
        poisson = np.full(totals.shape, np.inf)
        poisson[usable] = log_rate_variance(totals[usable])
        empirical = np.zeros(totals.shape)
        rate = (totals + 0.5) / np.broadcast_to(la_exposure[:, None], totals.shape)
        empirical[usable] = np.log(rate[usable])
        return poisson, msoa, empirical

    def _la_effects(self, n_services: int, msoa_fixed, msoa_cv):
        """LA effects, partially centred on the LA log rate (see ``la_parameterisation`` and
        :mod:`bayes_needs.models.la_effects`): ``m = log(sum_m Lambda_m / E_l)`` given the
        fixed effects, ``c`` the LA's observed log rate."""
        sigma_prior = self.priors["sigma_la"]
        if not self.config.correlated_la or n_services < 2:
            sigma = sigma_prior.create_variable("sigma_la")[None, :]
            poisson, msoa, empirical = self._la_data_summaries()
            has_data = np.isfinite(poisson)
            variance = pt.as_tensor(np.where(has_data, poisson, 0.0))
            if msoa_cv is not None:
                variance = variance + pt.sqr(msoa_cv)[None, :] * msoa[:, None]

            def location_gap():
                geo = self.data.geography
                la_exposure = geo.aggregate(self.data.exposure, dims.LSOA, dims.LA)
                la_fixed = segment_sum(msoa_fixed, geo.msoa_to_la, geo.n_la)
                # Cells without data get weight 0; the switch keeps log(0) out of the graph.
                ratio = pt.switch(has_data, la_fixed / np.where(la_exposure > 0, la_exposure,
                                                                1.0)[:, None], 1.0)
                return pt.log(ratio) - empirical

            return partially_centred_la_effects(
                sigma, has_data=has_data, sampling_variance=variance, location_gap=location_gap,
                mode=self.config.la_parameterisation)
        raw = pm.Normal("la_raw", 0.0, 1.0, dims=(dims.LA, dims.SERVICE))
        eta = float(self.priors["la_corr"].parameters.get("eta", 2.0))
        sd_dist = getattr(pm, sigma_prior.distribution).dist(
            **sigma_prior.parameters, shape=n_services)
        chol, corr, sigma = pm.LKJCholeskyCov("la_chol", n=n_services, eta=eta,
                                              sd_dist=sd_dist, compute_corr=True,
                                              store_in_trace=False)
        pm.Deterministic("sigma_la", sigma, dims=dims.SERVICE)
        self.model.add_coord(dims.SERVICE_B, list(self.services))
        pm.Deterministic("la_corr", corr, dims=(dims.SERVICE, dims.SERVICE_B))
        return pm.Deterministic("la_effect", pt.dot(raw, chol.T), dims=(dims.LA, dims.SERVICE))

    def _msoa_likelihood(self, service, j, obs, msoa_col, la_effect, msoa_shape) -> None:
        if not len(obs.msoa_pos):
            return
        geo = self.data.geography
        # Column first, then a 1-d gather: 2-d fancy indexing is slow in pytensor.
        mu = msoa_col[obs.msoa_pos]
        if la_effect is not None:
            mu = mu * pt.exp(la_effect[:, j][geo.msoa_to_la[obs.msoa_pos]])
        name, dim = f"obs_msoa_{service}", dims.observation_dim(service, dims.MSOA)
        if msoa_shape is None:
            pm.Poisson(name, mu=mu, observed=obs.msoa_count, dims=dim)
        else:
            _negative_binomial(name, mu, msoa_shape[j], obs.msoa_count, dim)

    def _la_likelihood(self, service, j, obs, msoa_col, la_effect, msoa_shape) -> None:
        if not len(obs.la_pos):
            return
        geo = self.data.geography
        sum1 = segment_sum(msoa_col, geo.msoa_to_la, geo.n_la)[obs.la_pos]
        mu = sum1
        if la_effect is not None:
            mu = mu * pt.exp(la_effect[:, j][obs.la_pos])
        name, dim = f"obs_la_{service}", dims.observation_dim(service, dims.LA)
        if msoa_shape is None:
            pm.Poisson(name, mu=mu, observed=obs.la_count, dims=dim)
        else:
            sum2 = segment_sum(pt.sqr(msoa_col), geo.msoa_to_la, geo.n_la)[obs.la_pos]
            alpha = msoa_shape[j] * pt.sqr(sum1) / sum2
            _negative_binomial(name, mu, alpha, obs.la_count, dim)

    def _split_likelihood(self, service, j, obs, eta, fixed_rate, msoa_col,
                          lsoa_dispersion) -> None:
        if not len(obs.lsoa_pos):
            return
        group = obs.lsoa_group
        first = np.unique(group, return_index=True)[1]
        group_count = obs.split_msoa_count
        lsoa_count = obs.lsoa_count
        # CustomDist parameters must broadcast with the LSOA vector, so MSOA totals are
        # repeated per LSOA and read back at each MSOA's first LSOA.
        msoa_total = msoa_col[obs.split_msoa_pos[group]]
        const_lsoa = -_gammaln(lsoa_count + 1.0)
        const_msoa = _gammaln(group_count + 1.0)

        if lsoa_dispersion is None:  # multinomial split
            log_rate = np.log(self.data.exposure[obs.lsoa_pos]) + eta[obs.lsoa_pos]

            def logp(value, log_rate, msoa_total):
                per_lsoa = value * log_rate + const_lsoa
                per_msoa = -group_count * pt.log(msoa_total[first]) + const_msoa
                return pt.inc_subtensor(per_lsoa[first], per_msoa)

            def random(log_rate, msoa_total, rng=None, size=None):
                weight = np.exp(log_rate - np.max(log_rate))
                return multinomial_split(group_count, weight, group, rng)

            params = (log_rate, msoa_total)
        else:
            rate = fixed_rate[obs.lsoa_pos]
            delta = lsoa_dispersion[j]

            def logp(value, rate, msoa_total, delta):
                conc = rate / delta
                total_conc = msoa_total[first] / delta
                per_lsoa = log_rising_factorial(conc, lsoa_count) + const_lsoa
                per_msoa = const_msoa - log_rising_factorial(total_conc, group_count)
                return pt.inc_subtensor(per_lsoa[first], per_msoa)

            def random(rate, msoa_total, delta, rng=None, size=None):
                weight = rng.gamma(np.asarray(rate) / delta)
                return multinomial_split(group_count, weight, group, rng)

            params = (rate, msoa_total, delta)
        # The split is conditional on the observed MSOA totals, so predictive draws keep them.
        pm.CustomDist(f"obs_lsoa_{service}", *params, logp=logp, random=random,
                      observed=lsoa_count, dtype="int64",
                      dims=dims.observation_dim(service, dims.LSOA))

    # ------------------------------------------------------------------ fitting
    def fit(self, *, random_seed: int, draws: int = 1000, tune: int = 1000, chains: int = 2,
            cores: int | None = None, sampler: str = "pymc", target_accept: float = 0.9,
            progressbar: bool = True, **sample_kwargs) -> az.InferenceData:
        """Sample the posterior with NUTS and store config, data hash and convergence summary.

        Parameters
        ----------
        random_seed
            Seed for the sampler (required: fits are reproducible by construction).
        draws, tune, chains, cores
            Passed to :func:`pymc.sample`.
        sampler
            ``"pymc"``, ``"nutpie"`` or ``"numpyro"`` (the latter two need ``bayes-needs[fast]``).
        target_accept
            NUTS target acceptance rate.
        progressbar
            Show progress bars.
        """
        model = self.model or self.build_model()
        idata = sample_nuts(model, random_seed=random_seed, draws=draws, tune=tune,
                            chains=chains, cores=cores, sampler=sampler,
                            target_accept=target_accept, progressbar=progressbar,
                            initvals={"intercept": self._initial_intercepts()}, **sample_kwargs)
        self.attach_metadata(idata, random_seed=random_seed, sampler=sampler)
        return idata

    def attach_metadata(self, idata: az.InferenceData, **run_info) -> None:
        """Store config, priors, data hash and the convergence summary in ``idata``."""
        config = {"model": self.config.to_dict(), "priors": priors_to_config(self.priors),
                  "services": list(self.services),
                  "covariates": list(self.covariate_names), "run": run_info}
        idata_io.set_metadata(idata, kind=KIND, config=config, data_hash=self.data.data_hash())
        post = idata_io.posterior(idata)
        names = [v for v in HYPERPARAMETERS if v in post]
        summary = idata_io.convergence_summary(idata, names)
        post.attrs["bayes_needs_convergence"] = json.dumps(summary, default=float)

    # ------------------------------------------------------------------ persistence
    def save(self, idata: az.InferenceData, path: str | Path) -> Path:
        """Write the fit to netCDF atomically (config and data hash in attrs)."""
        return idata_io.save(idata, path)

    @classmethod
    def load(cls, path: str | Path, data: AreaData) -> tuple[AreaDemandModel, az.InferenceData]:
        """Load a saved fit, checking it was made on ``data``.

        Raises
        ------
        DataHashMismatchError
            If ``data`` differs from the data the fit was made on.
        """
        idata = idata_io.load(path, expected_kind=KIND)
        idata_io.check_data_hash(idata, data.data_hash(), source=str(path))
        config = idata_io.get_config(idata)
        from bayes_needs.config.priors import parse_priors

        priors = parse_priors(config["priors"], source=f"{path} (stored priors)")
        model = cls(data.subset_services(config["services"]),
                    AreaModelConfig.from_dict(config["model"]), priors=priors)
        return model, idata

    # ------------------------------------------------------------------ expected need
    def expected_need(self, idata: az.InferenceData, *, random_seed: int,
                      standardise: Standardisation = "la",
                      chunk_size: int = 64) -> xr.Dataset:
        """Posterior draws of expected demand per LA and service.

        Parameters
        ----------
        idata
            A fit of this model.
        random_seed
            Seed for the posterior draws of MSOA effects and predictive counts.
        standardise
            ``"la"`` (default, needs-standardised): LA effects are marginalised with the
            lognormal mean correction ``exp(sigma_la^2 / 2)`` — funding follows expected need
            given an area's characteristics, not an LA's own practice — while small-area
            effects, which reflect unmeasured local need, are kept. ``"none"``: keep LA effects
            (actual-style expected demand). ``"all"``: marginalise small-area effects too
            (purely covariate-driven need). Small-area effects are posterior draws: exact
            gamma-Poisson for MSOAs with their own counts; for an LA's other MSOAs, their
            rate-weighted mean effect is gamma with the moment-matched shape of the LA-total
            likelihood, updated by the LA total where there is one and a prior draw where
            there is none, so the need interval includes what the data cannot pin down.
        chunk_size
            Posterior draws processed at once (bounds memory at national scale).

        Returns
        -------
        xarray.Dataset
            ``need`` and ``fitted`` with dims (chain, draw, la, service). ``fitted`` is the
            posterior predictive count with LA effects, including count noise.
        """
        if standardise not in ("la", "none", "all"):
            raise ConfigError(f"standardise must be 'la', 'none' or 'all', got "
                              f"{standardise!r}")
        post = idata_io.posterior(idata)
        geo, cfg = self.data.geography, self.config
        n_chain, n_draw = post.sizes[dims.CHAIN], post.sizes[dims.DRAW]
        n_sample, n_service = n_chain * n_draw, len(self.services)

        def flat(name, trailing):
            values = post[name].transpose(dims.CHAIN, dims.DRAW, *trailing).to_numpy()
            return values.reshape(n_sample, *values.shape[2:])

        intercept = flat("intercept", [dims.SERVICE])
        beta = flat("beta", [dims.SERVICE, dims.COVARIATE]) if self.covariate_names else None
        if cfg.la_effects:
            la_effect = flat("la_effect", [dims.LA, dims.SERVICE])
            sigma_la = flat("sigma_la", [dims.SERVICE])
        else:
            la_effect = np.zeros((n_sample, geo.n_la, n_service))
            sigma_la = np.zeros((n_sample, n_service))
        shape = 1.0 / flat("msoa_cv", [dims.SERVICE]) ** 2 if cfg.msoa_effects else None

        observed_mask = np.zeros((n_service, geo.n_msoa), bool)
        observed_total = np.zeros((n_service, geo.n_msoa))
        la_observed = np.zeros((n_service, geo.n_la), bool)
        la_total = np.zeros((n_service, geo.n_la))
        for j, service in enumerate(self.services):
            obs = self._observations[service]
            observed_mask[j, obs.msoa_pos] = True
            observed_total[j, obs.msoa_pos] = obs.msoa_count
            la_observed[j, obs.la_pos] = True
            la_total[j, obs.la_pos] = obs.la_count
        unobserved = ~observed_mask

        rng = np.random.default_rng(random_seed)
        need = np.empty((n_sample, geo.n_la, n_service))
        fitted = np.empty_like(need)
        for start in range(0, n_sample, chunk_size):
            sl = slice(start, min(start + chunk_size, n_sample))
            eta = intercept[sl, None, :]
            if beta is not None:
                eta = eta + np.einsum("lk,bsk->bls", self.z, beta[sl])
            fixed = self.data.exposure[None, :, None] * np.exp(eta)       # (b, lsoa, s)
            msoa_fixed = geo.aggregate(fixed.transpose(0, 2, 1), dims.LSOA, dims.MSOA)
            la_mult = np.exp(la_effect[sl].transpose(0, 2, 1))             # (b, s, la)
            # Split each LA into MSOAs with their own counts and the rest.
            rest = geo.aggregate(msoa_fixed * unobserved, dims.MSOA, dims.LA)
            if shape is None:
                own = geo.aggregate(msoa_fixed * observed_mask, dims.MSOA, dims.LA)
                rest_effect = np.ones_like(rest)
            else:
                a = shape[sl][:, :, None]
                # MSOAs with counts: exact gamma-Poisson posterior of their effect.
                g_post = rng.gamma(a + observed_total[None],
                                   1.0 / (a + observed_mask[None] * la_mult[:, :, geo.msoa_to_la]
                                          * msoa_fixed))
                own = geo.aggregate(g_post * msoa_fixed * observed_mask, dims.MSOA, dims.LA)
                # The rest: the rate-weighted mean of their effects, gamma with the
                # moment-matched shape the LA-total likelihood uses, updated by the LA total
                # where there is one (conjugate) and drawn from its prior otherwise.
                rest_sq = geo.aggregate(msoa_fixed ** 2 * unobserved, dims.MSOA, dims.LA)
                rest_shape = a * np.divide(rest ** 2, rest_sq, out=np.ones_like(rest),
                                           where=rest_sq > 0)
                rest_effect = rng.gamma(rest_shape + la_observed[None] * la_total[None],
                                        1.0 / (rest_shape + la_observed[None] * la_mult * rest))
            small_area = own + rest_effect * rest                          # (b, s, la)
            correction = np.exp(sigma_la[sl] ** 2 / 2.0)[:, :, None]
            if standardise == "la":
                contribution = small_area * correction
            elif standardise == "none":
                contribution = small_area * la_mult
            else:
                contribution = geo.aggregate(msoa_fixed, dims.MSOA, dims.LA) * correction
            need[sl] = contribution.transpose(0, 2, 1)
            fitted[sl] = rng.poisson(small_area * la_mult).transpose(0, 2, 1)

        shape4 = (n_chain, n_draw, geo.n_la, n_service)
        coords = {dims.CHAIN: post[dims.CHAIN].values, dims.DRAW: post[dims.DRAW].values,
                  **geo.coords(dims.LA), dims.SERVICE: list(self.services)}
        dim_names = (dims.CHAIN, dims.DRAW, dims.LA, dims.SERVICE)
        out = xr.Dataset(
            {"need": (dim_names, need.reshape(shape4)),
             "fitted": (dim_names, fitted.reshape(shape4))}, coords=coords)
        out["observed"] = (dims.LA, dims.SERVICE), self.data.la_totals().to_numpy()
        out.attrs.update({"standardise": standardise, "random_seed": random_seed,
                          "data_hash": self.data.data_hash()})
        return out


def _negative_binomial(name: str, mu, alpha, counts: np.ndarray, dim: str) -> None:
    """Observed NB counts with :func:`negative_binomial_logp` (fast, every backend) and
    PyMC's NB for predictive draws."""

    def logp(value, mu, alpha):
        return negative_binomial_logp(counts, mu, alpha)

    def dist(mu, alpha, size):
        return pm.NegativeBinomial.dist(mu=mu, alpha=alpha, size=size)

    pm.CustomDist(name, mu, alpha, logp=logp, dist=dist, observed=counts, dims=dim)


def _gammaln(values: np.ndarray) -> np.ndarray:
    from scipy.special import gammaln

    return gammaln(np.asarray(values, dtype=float))
