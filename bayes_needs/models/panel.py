"""Multi-year panel demand model: LA x year counts with dynamics, for forecasts of need.

For service ``s``, LA ``l`` and year ``t``, counts are Poisson with log rate per child::

    theta_lts = level_ts                                  national level (random walk)
              + log sum_i w_i exp(z_i . beta_s)            needs indicators, LSOA level
              + zbar_l . gamma_s                           contextual needs term (Mundlak)
              + u_ls                                       persistent LA effect
              + d_lts                                      LA dynamics: stationary AR(1)

* ``level_ts`` is a Gaussian random walk with sd ``sigma_year_s`` from ``intercept_s``; the
  default prior pools ``log sigma_year`` across services, so a service with few years of
  counts (CLA from 2019) borrows the others' scale of national change;
* ``z_i`` are the LSOA needs indicators (standardised), ``w_i`` the LSOA's share of the
  LA's children and ``zbar_l`` their LA means, so a return at LSOA level would enter through
  the same ``z_i . beta_s`` as the area model's;
* ``u_ls ~ N(0, sigma_la_s)``, correlated across services through an LKJ prior
  (``la_correlation``) with ``correlated_services = true``; ``d_lts = rho_s d_l(t-1)s +
  N(0, sigma_ar_s)``;
* the overdispersion of counts beyond Poisson lives in ``u`` and ``d``; with
  ``la_volatility`` (default) each LA and service has its own innovation sd
  ``sigma_ar_s exp(volatility_sd_s z_ls)``, which gives the pooled forecast errors the heavy
  tails LAs' differing volatility produces; with ``volatility_trend`` (default) the sds
  change by ``exp(volatility_trend_s)`` a year (``sigma_ar`` is the last year's; the default
  prior pools the trends across services, so CLA's few years borrow the others'), because LA
  counts moved less from year to year after 2017 and a constant sd made next year's
  intervals too wide (50% intervals covering 66% for CIN in a rolling-origin check);
* with ``count_noise`` (default), the Poisson-sized noise of a count is split per service:
  the observation variance is ``count_dispersion_s / y`` (1 is Poisson) and the innovation
  variance gains ``count_innovation_s / n_lts``, ``n`` the count expected from the national
  level and needs indicators. CLA is a stock counted on 31 March: its year-on-year changes
  are about Poisson-sized but persist (their lag-1 autocorrelation is +0.07, where fresh
  noise each year gives about -0.5), so treating them as fresh Poisson noise made the model
  discount each LA's latest count and widened next year's intervals.

**Indicators and collinearity.** IoD domains are strongly collinear (IDACI and income
correlate above 0.9), so per-service coefficients are poorly identified and flip sign
between services. The coefficients share one needs index across services: the between-LA
gradient of service ``s`` is ``exp(log_loading_s) * b`` with ``b_k ~ N(0, tau_between)``
per indicator. That is a hierarchical ("reduced-rank") prior across services, in which a
service's gradient is a positive multiple of the others', estimated from all services
jointly, and a Bayesian ridge within the index, which spreads an effect evenly over
collinear indicators rather than choosing one as a horseshoe would. So no indicator
changes sign between services, by construction. ``log_loading`` sums to zero.

**Within and between.** With LA totals only, the between-LA gradient is identified by the
LA totals, the within-LA gradient only by how indicators vary inside LAs. The within-LA
coefficients are ``beta_s = within_ratio * exp(log_loading_s) * b``; the rest of the
between-LA gradient, ``gamma_s = (1 - within_ratio) * exp(log_loading_s) * b``, is the
contextual term, counted as need (Mundlak's device). External evidence on the within-LA
gradient can be added (``evidence = true`` with ``priors/panel_literature.toml``): priors on
the implied log rate ratio per SD, and between the most and least deprived LSOA deciles, of
a composite of the indicators (their mean).

**Inference.** The LA effects and LA-year states are integrated out exactly under a
Gaussian approximation of the Poisson count on the log scale
(:mod:`bayes_needs.models.panel_likelihood`), so NUTS samples ~100 parameters;
:mod:`bayes_needs.need.panel` draws the states from their exact conditional afterwards.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import arviz as az
import numpy as np
import pymc as pm
import pytensor.tensor as pt
from pymc_extras.prior import Prior

from bayes_needs.config.models import PanelModelConfig
from bayes_needs.config.prior_specs import PANEL_PRIORS
from bayes_needs.config.priors import (
    check_prior_shapes,
    prior_source,
    priors_to_config,
    resolve_priors,
)
from bayes_needs.core import dims
from bayes_needs.core.errors import PriorConfigError
from bayes_needs.data.panel import PanelData
from bayes_needs.data.panel_returns import PanelReturns, panel_data_hash
from bayes_needs.models.base import FittableModel, chosen_covariates
from bayes_needs.models.kernels import segment_sum
from bayes_needs.models.panel_inputs import PanelInputs, panel_inputs
from bayes_needs.models.panel_likelihood import marginal_log_likelihood
from bayes_needs.models.panel_returns import returns_likelihood
from bayes_needs.simulate.panel import count_innovation_variance

KIND = "panel"
#: The model's priors: dims and support of each (one declaration, checked on every file).
PRIORS = PANEL_PRIORS
PRIOR_NAMES: tuple[str, ...] = tuple(PRIORS)
#: External-evidence priors (on derived within-LA rate ratios), used with ``evidence``.
EVIDENCE_PRIORS: tuple[str, ...] = ("within_log_rr_per_sd", "within_log_decile_rr")
#: Hyperparameters whose convergence gates a fit.
HYPERPARAMETERS: tuple[str, ...] = ("log_loading", "within_ratio", "tau_between", "beta",
                                    "beta_contextual", "sigma_la", "sigma_year",
                                    "national_level", "rho", "sigma_ar", "la_correlation",
                                    "volatility_sd", "volatility_trend", "count_dispersion",
                                    "count_innovation", "returns_dispersion")


class PanelDemandModel(FittableModel):
    """Hierarchical panel model of LA x year counts (see the module docstring).

    Parameters
    ----------
    data
        The panel; every year up to its last year with counts is fitted.
    config
        Structural options (:class:`~bayes_needs.config.models.PanelModelConfig` or a
        mapping of its fields).
    priors
        Prior overrides by variable name: a prior file path, a config mapping, or a mapping of
        name -> :class:`pymc_extras.prior.Prior`/prior dict. Defaults: ``priors/panel.toml``.
    returns
        Optional LSOA/MSOA returns (validated against ``data``): their within-LA splits
        inform ``beta`` (:mod:`bayes_needs.models.panel_returns`); those of the fitted years
        and services enter, and they join the data hash.
    """

    KIND: ClassVar[str] = KIND
    MONITORED: ClassVar[tuple[str, ...]] = HYPERPARAMETERS
    #: The LA volatilities' non-centred draws, kept out of a saved fit's posterior.
    INTERNAL: ClassVar[tuple[str, ...]] = ("volatility_raw",)

    def __init__(self, data: PanelData, config: PanelModelConfig | dict | None = None,
                 priors: str | Path | dict | None = None, returns: PanelReturns | None = None):
        self.data = data
        self.config = config if isinstance(config, PanelModelConfig) else \
            PanelModelConfig.from_dict(config)
        self.priors: dict[str, Prior] = resolve_priors("panel", priors, PRIORS)
        if self.config.evidence:
            missing = [name for name in EVIDENCE_PRIORS if name not in self.priors]
            if missing:
                raise PriorConfigError("panel priors", [
                    f"evidence = true needs priors for {missing} (for example "
                    f"priors/panel_literature.toml)"])
        self.indicator_names: tuple[str, ...] = chosen_covariates(
            self.config.indicators, data.covariate_names, "indicator")
        self.services: tuple[str, ...] = data.services
        self.inputs: PanelInputs = panel_inputs(data, self.indicator_names, self.services)
        self.years: tuple[int, ...] = self.inputs.years
        check_prior_shapes(self.priors, PRIORS, self.coords, source=prior_source("panel", priors))
        self.model: pm.Model | None = None
        self.returns = None if returns is None else returns.checked_for(data)

    @property
    def covariate_names(self) -> tuple[str, ...]:
        """The needs indicators (the name the run summaries use)."""
        return self.indicator_names

    @property
    def coords(self) -> dict[str, Any]:
        """Model coordinates."""
        upper = zip(*np.triu_indices(len(self.services), 1), strict=True)
        return {dims.SERVICE: list(self.services), dims.SERVICE_B: list(self.services),
                dims.SERVICE_PAIR: [f"{self.services[i]}~{self.services[j]}" for i, j in upper],
                dims.COVARIATE: list(self.indicator_names),
                dims.LA: list(self.data.la_codes), dims.YEAR: list(self.years)}

    # ------------------------------------------------------------------ model
    def build_model(self) -> pm.Model:
        """Build (and cache) the PyMC model."""
        inp, n_services = self.inputs, len(self.services)
        with pm.Model(coords=self.coords) as model:
            self.model = model
            needs = self._needs_terms(n_services)                   # (la, service)
            if self.returns is not None:  # LSOA/MSOA returns: within-LA splits of totals
                returns_likelihood(self.returns, self.data, inp.z, model.named_vars.get("beta"),
                                   services=self.services, years=self.years,
                                   family=self.config.returns_family, priors=self.priors)
            level = self._national_level(n_services)                 # (service, year)
            omega = self._la_effect_covariance(n_services)
            rho = self.priors["rho"].create_variable("rho")
            mean = needs[:, :, None] + level[None, :, :]             # (la, service, year)
            sigma_ar = self._innovation_sd(n_services, mean)         # (la, service, year)
            resid = (pt.as_tensor(inp.log_rate) - mean) * (inp.precision > 0)
            loglik = marginal_log_likelihood(resid, self._observation_precision(), rho,
                                             sigma_ar, omega)
            pm.Potential("panel_log_likelihood", pt.sum(loglik))
        self.model = model
        return model

    def _observation_precision(self):
        """Precisions ``(la, service, year)`` of the observed log rates (0 where missing)."""
        precision = pt.as_tensor(np.asarray(self.inputs.precision, dtype=float))
        if not self.config.count_noise:
            return precision
        dispersion = self.priors["count_dispersion"].create_variable("count_dispersion")
        return precision / dispersion[None, :, None]

    def _innovation_sd(self, n_services: int, mean):
        """Innovation sds ``(la, service, year)`` of the LA deviations.

        LAs differ in how much their counts move from year to year (the spread of LAs'
        year-on-year sds is about twice what sampling alone gives, while each LA's
        standardised changes are close to Gaussian). With ``la_volatility``, each LA and
        service has its own sd, log-normal around the service's ``sigma_ar``. With
        ``volatility_trend``, the sds change by ``exp(volatility_trend)`` a year, and
        ``sigma_ar`` (and ``sigma_ar_la``) are those of the last fitted year. With
        ``count_noise``, the variance gains ``count_innovation / n`` with ``n = exposure *
        exp(mean)``, the count expected from the log-rate ``mean`` (la, service, year) of the
        national level and needs indicators.
        """
        sigma_ar = self.priors["sigma_ar"].create_variable("sigma_ar")
        n_la = self.data.geography.n_la
        if self.config.la_volatility:
            spread = self.priors["volatility_sd"].create_variable("volatility_sd")
            raw = pm.Normal("volatility_raw", 0.0, 1.0, dims=(dims.LA, dims.SERVICE))
            current = pm.Deterministic("sigma_ar_la", sigma_ar[None, :] * pt.exp(spread * raw),
                                       dims=(dims.LA, dims.SERVICE))
        else:
            current = pt.broadcast_to(sigma_ar[None, :], (n_la, n_services))
        offsets = np.asarray(self.years, dtype=float) - self.years[-1]
        if not self.config.volatility_trend or len(self.years) == 1:
            path = pt.broadcast_to(current[:, :, None], (n_la, n_services, len(self.years)))
        else:
            trend = self.priors["volatility_trend"].create_variable("volatility_trend")
            path = current[:, :, None] * pt.exp(trend[None, :, None] * offsets[None, None, :])
        if not self.config.count_noise:
            return path
        per_count = self.priors["count_innovation"].create_variable("count_innovation")
        log_expected = pt.as_tensor(self.inputs.log_exposure)[:, None, :] + mean
        extra = count_innovation_variance(per_count[None, :, None], log_expected, xp=pt)
        return pt.sqrt(pt.sqr(path) + extra)

    def _la_effect_covariance(self, n_services: int):
        """Covariance ``(service, service)`` of the persistent LA effects."""
        sigma_la = self.priors["sigma_la"].create_variable("sigma_la")
        if not self.config.correlated_services or n_services == 1:
            return pt.diag(pt.sqr(sigma_la))
        prior = self.priors["la_correlation"]
        # Sampled as the upper triangle (one value per service pair), kept as a matrix too.
        pairs = getattr(pm, prior.distribution)("la_correlation", n=n_services,
                                                **prior.parameters, dims=dims.SERVICE_PAIR)
        corr = pm.Deterministic("la_correlation_matrix",
                                pm.LKJCorr.vec_to_corr_mat(pairs, n_services),
                                dims=(dims.SERVICE, dims.SERVICE_B))
        return sigma_la[:, None] * corr * sigma_la[None, :]

    def _national_level(self, n_services: int):
        """National log rates: the last year's level and yearly increments.

        Anchoring the walk at the last year (not the first) and sampling its increments
        keeps the sampler's coordinates nearly uncorrelated: the common level is known to
        about ``sigma_la / sqrt(n_la)``, the yearly changes far better. An increment between
        two years with counts is sampled centred (the data pin it down); one touching a year
        without counts (CLA before 2019) is sampled non-centred, since only its prior
        informs it and a centred one would form a funnel with ``sigma_year``.
        """
        sigma_year = self.priors["sigma_year"].create_variable("sigma_year")
        start = self.priors["intercept"]
        last = getattr(pm, start.distribution)("national_level_last", **start.parameters,
                                               dims=dims.SERVICE)
        n_years = len(self.years)
        if n_years == 1:
            level = last[:, None]
        else:
            informed = self._informed_steps()
            free = pm.Normal("national_step_free", 0.0,
                             pt.where(informed, sigma_year[:, None], 1.0),
                             shape=(n_services, n_years - 1))
            step = pt.where(informed, free, sigma_year[:, None] * free)
            # level_t = last - sum of the steps after t
            after = pt.cumsum(step[:, ::-1], axis=1)[:, ::-1]
            level = pt.concatenate([last[:, None] - after, last[:, None]], axis=1)
        return pm.Deterministic("national_level", level, dims=(dims.SERVICE, dims.YEAR))

    def _informed_steps(self) -> np.ndarray:
        """``(service, year - 1)``: whether both years of an increment have counts."""
        counted = np.asarray((self.inputs.precision > 0).any(axis=0))   # (service, year)
        return counted[:, 1:] & counted[:, :-1]

    def _needs_terms(self, n_services: int):
        """Add the indicator coefficients; return the ``(la, service)`` needs terms."""
        inp = self.inputs
        n_la, n_ind = self.data.geography.n_la, len(self.indicator_names)
        if n_ind == 0:
            return pt.zeros((n_la, n_services))
        log_loading = self.priors["log_loading"].create_variable("log_loading") \
            if n_services > 1 else pt.zeros(1)
        loading = pt.exp(log_loading)
        tau_between = self.priors["tau_between"].create_variable("tau_between")
        # Centred: the LA totals pin the between-LA gradient down.
        between = pm.Normal("between", 0.0, tau_between, dims=dims.COVARIATE)
        ratio = self.priors["within_ratio"].create_variable("within_ratio") \
            if self.config.contextual else pt.as_tensor(1.0)
        within = ratio * between
        pm.Deterministic("beta", loading[:, None] * within[None, :],
                         dims=(dims.SERVICE, dims.COVARIATE))
        # LSOA-level term: LA mean index plus the within-LA spread (pooled LSOA clusters).
        # Products as elementwise sums: without a BLAS, pytensor's dot falls back to Python.
        index = pt.sum(pt.as_tensor(inp.point_z) * within[None, :], axis=1)
        spread = segment_sum(pt.exp(index[:, None] * loading[None, :])
                             * inp.point_share[:, None], inp.point_la, n_la)   # (la, service)
        if self.config.contextual:
            pm.Deterministic("beta_contextual",
                             loading[:, None] * ((1.0 - ratio) * between)[None, :],
                             dims=(dims.SERVICE, dims.COVARIATE))
        # LA means: within + contextual = the whole between-LA gradient, loading x between.
        la_index = pt.sum(pt.as_tensor(inp.la_mean) * (between if self.config.contextual
                                                       else within)[None, :], axis=1)
        terms = pt.log(spread) + la_index[:, None] * loading[None, :]
        if self.config.evidence:
            self._evidence(loading, within)
        return terms

    def _evidence(self, loading, within) -> None:
        """Add the external-evidence priors on the implied within-LA rate ratios."""
        inp = self.inputs
        per_sd = pm.Deterministic("within_log_rr_per_sd_implied",
                                  loading * pt.dot(within, inp.deprivation_sd_slope),
                                  dims=dims.SERVICE)
        decile = pm.Deterministic("within_log_decile_rr_implied",
                                  loading * pt.dot(within, inp.deprivation_decile_gap),
                                  dims=dims.SERVICE)
        for name, value in (("within_log_rr_per_sd", per_sd),
                            ("within_log_decile_rr", decile)):
            prior = self.priors[name]
            dist = getattr(pm, prior.distribution).dist(**prior.parameters,
                                                        shape=(len(self.services),))
            pm.Potential(f"{name}_evidence", pt.sum(pm.logp(dist, value)))

    # ------------------------------------------------------------------ fitting
    def initial_values(self) -> dict[str, np.ndarray]:
        """Return NUTS start values: national levels at the observed mean log rates."""
        crude = self.inputs.crude_log_rate()
        if crude.shape[1] == 1:
            return {"national_level_last": crude[:, -1]}
        steps = np.where(self._informed_steps(), np.diff(crude, axis=1), 0.0)
        return {"national_level_last": crude[:, -1], "national_step_free": steps}

    def la_name_labels(self) -> np.ndarray:
        """Return the name of each LA of the ``la`` dim (shown with the codes by ArviZ)."""
        return self.data.geography.names(dims.LA)

    def data_hash(self) -> str:
        """Return the hash of the panel data and its returns (:func:`panel_data_hash`)."""
        return panel_data_hash(self.data, self.returns)

    def stored_config(self) -> dict[str, Any]:
        """Return model options, priors, services and indicators (stored with fits)."""
        return {"model": self.config.to_dict(), "priors": priors_to_config(self.priors),
                "services": list(self.services), "covariates": list(self.indicator_names),
                "returns": None if self.returns is None else self.returns.summary()}

    @classmethod
    def load(cls, path: str | Path, data: PanelData, returns: PanelReturns | None = None
             ) -> tuple[PanelDemandModel, az.InferenceData]:
        """Load a saved fit, checking it was made on ``data`` (and ``returns``).

        Parameters
        ----------
        path
            A file written by :meth:`save`.
        data
            The panel the fit was made on.
        returns
            The LSOA/MSOA returns the fit was made with (``None`` if none).

        Returns
        -------
        tuple
            The rebuilt model and the fit.

        Raises
        ------
        DataHashMismatchError
            If ``data`` or ``returns`` differ from those the fit was made on (a fit made with
            returns needs them passed back in).
        """
        return cls.read_fit(path, panel_data_hash(data, returns), lambda config, priors: cls(
            data.subset_services(config["services"]),
            PanelModelConfig.from_dict(config["model"]), priors=priors, returns=returns))
