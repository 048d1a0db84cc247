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

from pathlib import Path
from typing import Any, ClassVar

import arviz as az
import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt
from pymc_extras.prior import Prior

from bayes_needs.config.models import AreaModelConfig
from bayes_needs.config.prior_specs import AREA_PRIORS
from bayes_needs.config.priors import (
    check_prior_shapes,
    prior_source,
    priors_to_config,
    resolve_priors,
)
from bayes_needs.core import defaults, dims
from bayes_needs.core import idata as idata_io
from bayes_needs.data.area import AreaData
from bayes_needs.data.covariates import standardise
from bayes_needs.data.geography import Level
from bayes_needs.models.area_inspection import inspection_groups
from bayes_needs.models.area_likelihood import la_likelihood, msoa_likelihood, split_likelihood
from bayes_needs.models.area_observations import (
    ServiceObservations,
    initial_intercepts,
    la_data_summaries,
    service_observations,
)
from bayes_needs.models.base import FittableModel, chosen_covariates
from bayes_needs.models.kernels import segment_sum
from bayes_needs.models.la_effects import partially_centred_la_effects

KIND = "area"
#: The model's priors: dims and support of each (one declaration, checked on every file).
PRIORS = AREA_PRIORS
PRIOR_NAMES: tuple[str, ...] = tuple(PRIORS)
#: Hyperparameters whose convergence gates a fit.
HYPERPARAMETERS: tuple[str, ...] = ("intercept", "beta", "sigma_la", "msoa_cv",
                                    "lsoa_dispersion", "la_corr")
#: The LA effects' reparameterisations (``la_effect`` is the effect itself), kept out of a
#: saved fit's posterior.
INTERNAL_VARIABLES: tuple[str, ...] = ("la_latent", "la_raw")


class AreaDemandModel(FittableModel):
    """Hierarchical Poisson/negative-binomial area demand model (see the module docstring).

    Parameters
    ----------
    data
        Validated area data.
    config
        Structural options (:class:`~bayes_needs.config.models.AreaModelConfig` or a mapping
        of its fields).
    priors
        Prior overrides by variable name: a prior file path, a config mapping, or a mapping of
        name -> :class:`pymc_extras.prior.Prior`/prior dict. Defaults: ``priors/area.toml``.
    """

    KIND: ClassVar[str] = KIND
    MONITORED: ClassVar[tuple[str, ...]] = HYPERPARAMETERS
    INTERNAL: ClassVar[tuple[str, ...]] = INTERNAL_VARIABLES
    #: Each LA's effects (``la_latent``, or ``la_raw`` when correlated) touch its own data only.
    LOCAL: ClassVar[dict[str, int]] = {"la_latent": 0, "la_raw": 0}
    HYPER: ClassVar[tuple[str, ...]] = ("sigma_la", "msoa_cv", "lsoa_dispersion", "la_chol")
    #: Without correlated LA effects services share nothing (with them, the LKJ factor has
    #: no service dimension and the posterior is one block).
    BLOCK_DIM: ClassVar[str | None] = dims.SERVICE

    def __init__(self, data: AreaData, config: AreaModelConfig | dict | None = None,
                 priors: str | Path | dict | None = None):
        self.data = data
        self.config = config if isinstance(config, AreaModelConfig) else \
            AreaModelConfig.from_dict(config)
        self.priors: dict[str, Prior] = resolve_priors("area", priors, PRIORS)
        self.covariate_names = chosen_covariates(self.config.covariates, data.covariate_names,
                                                 "covariate")
        if self.covariate_names:
            z, self.covariate_mean, self.covariate_std = standardise(
                data.covariates[list(self.covariate_names)])
            self.z = z.to_numpy(dtype=float)
        else:
            self.z = np.zeros((data.geography.n_lsoa, 0))
            self.covariate_mean = self.covariate_std = pd.Series(dtype=float)
        self.services = data.services
        #: Observation layout per service (:mod:`bayes_needs.models.area_observations`).
        self.observations: dict[str, ServiceObservations] = {
            s: service_observations(data, s) for s in self.services}
        check_prior_shapes(self.priors, PRIORS, self.coords, source=prior_source("area", priors))
        self.model: pm.Model | None = None

    @property
    def coords(self) -> dict[str, Any]:
        """Model coordinates (canonical dims plus one observation dim per service/level)."""
        geo = self.data.geography
        coords: dict[str, Any] = {dims.SERVICE: list(self.services),
                                  dims.COVARIATE: list(self.covariate_names),
                                  dims.LA: list(geo.la_codes)}
        for service, obs in self.observations.items():
            levels: tuple[tuple[Level, np.ndarray], ...] = (
                (dims.LSOA, obs.lsoa_pos), (dims.MSOA, obs.msoa_pos), (dims.LA, obs.la_pos))
            for level, pos in levels:
                if len(pos):
                    coords[dims.observation_dim(service, level)] = list(geo.codes(level)[pos])
        return coords

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
            la_effect = self._la_effects(model, pt.stack(msoa_fixed, axis=1), msoa_cv) \
                if cfg.la_effects else None
            lsoa_dispersion = None
            if cfg.family == "negbin" and any(len(o.lsoa_pos) for o in
                                              self.observations.values()):
                lsoa_dispersion = self.priors["lsoa_dispersion"].create_variable(
                    "lsoa_dispersion")

            self._observed_blocks: dict[str, int] = {}
            for j, service in enumerate(self.services):
                known = len(model.observed_RVs)
                obs = self.observations[service]
                msoa_col = msoa_fixed[j]  # the service's MSOA rates, for every term
                msoa_likelihood(geo, service, j, obs, msoa_col, la_effect, msoa_shape)
                la_likelihood(geo, service, j, obs, msoa_col, la_effect, msoa_shape)
                split_likelihood(self.data.exposure, service, j, obs, eta[j], fixed_rate[j],
                                 msoa_col, lsoa_dispersion)
                self._observed_blocks.update(
                    {rv.name: j for rv in model.observed_RVs[known:]})
        self.model = model
        return model

    def _la_effects(self, model: pm.Model, msoa_fixed, msoa_cv):
        """Create the LA effects, partially centred on the LA log rate.

        See ``la_parameterisation`` and :mod:`bayes_needs.models.la_effects`:
        ``m = log(sum_m Lambda_m / E_l)`` given the fixed effects, ``c`` the LA's observed log
        rate. Correlated effects (``correlated_la``) are non-centred with an LKJ prior.
        """
        n_services = len(self.services)
        sigma_prior = self.priors["sigma_la"]
        if not self.config.correlated_la or n_services < 2:
            sigma = sigma_prior.create_variable("sigma_la")[None, :]
            poisson, msoa, empirical = la_data_summaries(self.data)
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
        model.add_coord(dims.SERVICE_B, list(self.services))
        pm.Deterministic("la_corr", corr, dims=(dims.SERVICE, dims.SERVICE_B))
        return pm.Deterministic("la_effect", pt.dot(raw, chol.T), dims=(dims.LA, dims.SERVICE))

    # ------------------------------------------------------------------ fitting
    def observed_blocks(self) -> dict[str, int]:
        """Return each observed variable's service (every one is a single service's)."""
        self.built_model()
        return dict(self._observed_blocks)

    def initial_values(self) -> dict[str, np.ndarray]:
        """Return NUTS start values: each service's intercept at its overall log rate."""
        return {"intercept": initial_intercepts(self.data)}

    def la_name_labels(self) -> np.ndarray:
        """Return the name of each LA of the ``la`` dim (shown with the codes by ArviZ)."""
        return self.data.geography.names(dims.LA)

    def inspection_data(self, idata: az.InferenceData) -> az.InferenceData:
        """Return the fit as saved, for stock ArviZ (:mod:`bayes_needs.models.area_inspection`).

        The posterior predictive draws are seeded by the fit's own seed.
        """
        seed = idata_io.get_config(idata).get("run", {}).get("random_seed",
                                                             defaults.RANDOM_SEED)
        return inspection_groups(self, idata, internal=self.INTERNAL, random_seed=int(seed))

    def data_hash(self) -> str:
        """Return the hash of the area data (:meth:`AreaData.data_hash`)."""
        return self.data.data_hash()

    def stored_config(self) -> dict[str, Any]:
        """Return model options, priors, services and covariates (stored with fits)."""
        return {"model": self.config.to_dict(), "priors": priors_to_config(self.priors),
                "services": list(self.services), "covariates": list(self.covariate_names)}

    @classmethod
    def load(cls, path: str | Path, data: AreaData) -> tuple[AreaDemandModel, az.InferenceData]:
        """Load a saved fit, checking it was made on ``data``.

        Parameters
        ----------
        path
            A file written by :meth:`save`.
        data
            The area data the fit was made on (or a superset of its services).

        Returns
        -------
        tuple
            The rebuilt model and the fit.

        Raises
        ------
        DataHashMismatchError
            If ``data`` differs from the data the fit was made on.
        """
        return cls.read_fit(path, data.data_hash(), lambda config, priors: cls(
            data.subset_services(config["services"]),
            AreaModelConfig.from_dict(config["model"]), priors=priors))
