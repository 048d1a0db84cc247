"""Person-based (PBRA) hierarchical demand model, fitted to collapsed child records.

For child ``i`` with covariate pattern ``p`` in LSOA ``k`` in MSOA ``m`` in LA ``l`` and a
service (one set of parameters per service)::

    log lambda_i = intercept + z_k . beta + x_p . gamma      rate per year at risk
    y_i | effects ~ Poisson(e_i * lambda_i * exp(u_l) * g_m * h_k)        count families
    logit P(y_i = 1) = intercept + z_k . beta + x_p . gamma + u_l + v_m    family "bernoulli"

``z_k`` are standardised area covariates of the home LSOA, ``x_p`` treatment-coded child
covariates (age band, sex, FSM, ...), ``u_l ~ Normal(0, sigma_la)`` LA effects (centred where
an LA's data are informative, as in the area model), ``g_m ~ Gamma(1/msoa_cv^2, 1/msoa_cv^2)``
mean-one MSOA effects, ``h_k`` optional LSOA effects and ``v_m ~ Normal(0, sigma_msoa)``.

Exact collapsing (count families). With ``Lambda`` the summed ``e_i lambda_i`` of a unit and
``Y`` its summed outcome, the children of an MSOA have the joint likelihood

* ``Y_m ~ NegativeBinomial(mu = exp(u_l) Lambda_m, alpha = 1/msoa_cv^2)`` — the gamma MSOA
  effect integrated out analytically, as in the area model; ``Poisson`` without MSOA effects;
* LSOA totals given ``Y_m``: multinomial with probabilities ``Lambda_k / Lambda_m``
  (``lsoa_effects``: Dirichlet-multinomial with concentrations ``Lambda_k / lsoa_dispersion``,
  i.e. Dirichlet LSOA effects exactly as in the area model);
* cells given their LSOA total: multinomial with probabilities ``E_c lambda_c / Lambda_k``;
* children given their cell total: multinomial with probabilities ``e_i / E_c``, free of
  parameters.

Everything depends on the data only through the cell sums ``(Y_c, E_c)``, so the collapsed
likelihood equals the row-level one up to a constant (``tests/models/test_person.py`` checks
this against scipy). The multinomial numerator ``sum_c Y_c log lambda_c`` is linear in the
parameters, and ``Lambda_k = exp(intercept + z_k beta) * sum_p E_kp exp(x_p gamma)`` is a
sparse (LSOA x pattern) product, so a gradient costs O(distinct cells), not O(children).

Family ``"negbin"`` (child overdispersion). A child-level negative binomial with a common
shape (NB2) does not collapse: a sum of NB2 counts with different means is not NB2. The model
instead uses NB1-type overdispersion, ``Var = mu (1 + child_dispersion)``, as a
Dirichlet-multinomial split of each LSOA total over its cells with concentrations
``E_c lambda_c / child_dispersion``. Sums of NB1 counts sharing the dispersion are NB1, so
this is the exact likelihood of the *cell totals*; what is approximated is the split within
a cell, which is dropped (it carries information on the dispersion only through children
whose exposure differs, and on nothing else).

Family ``"bernoulli"`` (binary "supported by children's social care"): children of a cell
share ``p_c``, so their outcomes collapse exactly to ``Binomial(n_c, p_c)``. LA and MSOA
effects are normal on the logit scale (non-centred MSOA effects); exposure is not used.

Need (:func:`bayes_needs.need.person.expected_need`) sums rates over the whole ONS child
population (:mod:`bayes_needs.data.person.topup`) with LA effects marginalised:
``exp(sigma_la^2 / 2)`` for the count families, Gauss-Hermite quadrature over ``u`` for the
logit link.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import arviz as az
import numpy as np
import pymc as pm
import pytensor.tensor as pt
from pymc_extras.prior import Prior

from bayes_needs.config.models import PersonModelConfig
from bayes_needs.config.prior_specs import PERSON_PRIORS
from bayes_needs.config.priors import (
    check_prior_shapes,
    prior_source,
    priors_to_config,
    resolve_priors,
)
from bayes_needs.core import dims
from bayes_needs.core.errors import ConfigError, DataValidationError
from bayes_needs.data.covariates import standardise
from bayes_needs.data.person.design import (
    PersonModelData,
    TrainingArrays,
    child_design,
    summer,
)
from bayes_needs.models.base import FittableModel
from bayes_needs.models.count_likelihoods import negative_binomial_logp
from bayes_needs.models.kernels import log_rising_factorial_vector, segment_sum
from bayes_needs.models.la_effects import (
    exposure_concentration,
    log_rate_variance,
    partially_centred_la_effects,
)
from bayes_needs.models.sparse_kernels import (
    dense_product,
    gather,
    matrix_product,
    sparse_product,
)

KIND = "person"
#: The model's priors: dims and support of each (one declaration, checked on every file).
PRIORS = PERSON_PRIORS
PRIOR_NAMES: tuple[str, ...] = tuple(PRIORS)
#: Hyperparameters whose convergence gates a fit.
HYPERPARAMETERS = PRIOR_NAMES


def _rising(base, counts: np.ndarray):
    """Sum ``log Γ(base + counts) - log Γ(base)`` over a ``(unit, service)`` tensor.

    The compiled rising factorial (:mod:`bayes_needs.models.kernels`) instead of ``gammaln``,
    whose gradient needs ``digamma``.
    """
    counts = np.rint(np.asarray(counts, float)).astype(np.int64)
    return log_rising_factorial_vector(pt.flatten(base), counts.ravel()).sum()


class PersonDemandModel(FittableModel):
    """Hierarchical person-level demand model (see the module docstring).

    Parameters
    ----------
    data
        Collapsed records, LSOA covariates and ONS population
        (:class:`~bayes_needs.data.person.design.PersonModelData`).
    config
        :class:`~bayes_needs.config.models.PersonModelConfig` or a mapping of its fields.
    priors
        Prior overrides by variable name (file path, config mapping or name -> Prior);
        defaults: ``priors/person.toml``.
    holdout_las
        LA codes whose records are left out of the likelihood (cross-validation); their
        covariates still enter predictions and need.
    """

    KIND: ClassVar[str] = KIND
    MONITORED: ClassVar[tuple[str, ...]] = HYPERPARAMETERS
    #: The LA effects' reparameterisation, kept out of a saved fit's posterior.
    INTERNAL: ClassVar[tuple[str, ...]] = ("la_latent",)
    #: Each LA's effects touch its own children's cells only.
    LOCAL: ClassVar[dict[str, int]] = {"la_latent": 0}
    HYPER: ClassVar[tuple[str, ...]] = ("sigma_la", "msoa_cv", "sigma_msoa", "lsoa_dispersion",
                                        "child_dispersion")
    #: Every term is per service (the log-likelihood sums over services): one lattice each.
    BLOCK_DIM: ClassVar[str | None] = dims.SERVICE

    def __init__(self, data: PersonModelData, config: PersonModelConfig | dict | None = None,
                 priors: str | Path | dict | None = None, *, holdout_las=()):
        self.data = data
        self.config = config if isinstance(config, PersonModelConfig) else \
            PersonModelConfig.from_dict(config)
        self.priors: dict[str, Prior] = resolve_priors("person", priors, PRIORS)
        cells, geo = data.cells, data.geography
        available = tuple(data.lsoa_covariates.columns)
        covs = available if self.config.covariates is None else self.config.covariates
        unknown = sorted(set(covs) - set(available))
        if unknown:
            raise ConfigError(f"covariate(s) {unknown} are not in the LSOA covariates; "
                              f"available: {list(available)}")
        self.covariate_names = tuple(covs)
        self.z = standardise(data.lsoa_covariates[list(covs)])[0].to_numpy(float) if covs \
            else np.zeros((geo.n_lsoa, 0))
        self.X, self.child_terms = child_design(cells.covariates, cells.levels, cells.patterns)
        self.services = data.services
        if self.config.family == "bernoulli":
            binary = [s for s, m in zip(self.services, cells.max_outcome, strict=True) if m > 1]
            if binary:
                raise DataValidationError(cells.source, [
                    f"family 'bernoulli' needs 0/1 outcomes, but service(s) {binary} have "
                    f"values above 1"])
        self.holdout_las = tuple(sorted(map(str, holdout_las)))
        held = geo.position(dims.LA, list(self.holdout_las), what="holdout_las") \
            if self.holdout_las else np.zeros(0, np.int64)
        self.train_mask = ~np.isin(cells.la, held)
        self.train = TrainingArrays.from_cells(cells, self.train_mask)
        check_prior_shapes(self.priors, PRIORS, self.coords,
                           source=prior_source("person", priors))
        self.model: pm.Model | None = None

    # ------------------------------------------------------------------ model
    @property
    def coords(self) -> dict[str, Any]:
        """Model coordinates."""
        coords = {dims.SERVICE: list(self.services), dims.COVARIATE: list(self.covariate_names),
                  dims.CHILD_TERM: list(self.child_terms),
                  dims.LA: list(self.data.geography.la_codes)}
        if self.config.family == "bernoulli" and self.config.msoa_effects:
            coords[dims.MSOA] = list(self.data.geography.msoa_codes[self.train.msoa])
        return coords

    def _covered_la_totals(self) -> np.ndarray:
        t, n_la = self.train, self.data.geography.n_la
        return np.stack([np.bincount(t.cell_la, weights=t.counts[:, j], minlength=n_la)
                         for j in range(len(self.services))], axis=1)

    def _initial_intercepts(self) -> np.ndarray:
        t = self.train
        events = t.counts.sum(axis=0)
        if self.config.family == "bernoulli":
            rate = np.clip(events / t.children.sum(), 1e-6, 1 - 1e-6)
            return np.log(rate / (1 - rate))
        return np.log(np.maximum(events, 0.5) / t.exposure.sum())

    def build_model(self) -> pm.Model:
        """Build (and cache) the PyMC model."""
        t, cfg = self.train, self.config
        with pm.Model(coords=self.coords) as model:
            self.model = model
            intercept = self.priors["intercept"].create_variable("intercept")
            a = pt.broadcast_to(intercept[None, :], (len(t.lsoa), len(self.services)))
            if self.covariate_names:
                beta = self.priors["beta"].create_variable("beta")
                # Compiled: pytensor's own Dot without a BLAS library is a naive loop.
                a = a + dense_product(beta.T, self.z[t.lsoa])
            G = pt.zeros((len(self.X), len(self.services)))
            if self.child_terms:
                gamma = self.priors["gamma"].create_variable("gamma")
                G = G + (pt.as_tensor(self.X)[:, :, None] * gamma.T[None, :, :]).sum(axis=1)
            if cfg.family == "bernoulli":
                loglik = self._binomial_loglik(a, G)
            else:
                loglik = self._count_loglik(a, G)
            pm.Potential("loglik", loglik)
        self.model = model
        return model

    def _la_effects(self, variance, location_gap):
        """LA effects, adaptively partially centred (:mod:`bayes_needs.models.la_effects`).

        With millions of children every LA's rate is pinned by its data, while the intercept,
        the area coefficients and the LA effects enter the LA's rate together: sampled
        non-centred they form a long ridge that a diagonal mass matrix crosses very slowly.
        Centring each LA on its rate given the fixed effects removes it; LAs without training
        data (held out) stay non-centred.

        Parameters
        ----------
        variance
            Tensor ``(la, service)``: sampling variance of each LA's observed linear predictor.
        location_gap
            Builds ``m - c``: the LA's linear predictor given the fixed effects less its
            observed value.
        """
        sigma = self.priors["sigma_la"].create_variable("sigma_la")[None, :]
        return partially_centred_la_effects(
            sigma, has_data=self._la_has_data(), sampling_variance=variance,
            location_gap=location_gap, mode=self.config.la_parameterisation)

    def _la_has_data(self) -> np.ndarray:
        """(la, service): LAs with training cells (held-out LAs have none)."""
        t, n_la = self.train, self.data.geography.n_la
        present = np.bincount(t.cell_la, weights=t.exposure, minlength=n_la) > 0
        return np.repeat(present[:, None], len(self.services), axis=1)

    def _la_unit_concentration(self, unit_weight: np.ndarray) -> np.ndarray:
        """``sum_m w_m^2 / (sum_m w_m)^2`` per LA over its training MSOAs, shape (la, 1)."""
        t = self.train
        per_msoa = np.bincount(t.cell_msoa, weights=unit_weight, minlength=len(t.msoa))
        return exposure_concentration(per_msoa, t.msoa_la, self.data.geography.n_la)[:, None]

    def _count_loglik(self, a, G):
        """Log-likelihood of the count families, up to a constant (see module docstring)."""
        t, cfg = self.train, self.config
        n_lsoa, n_msoa, n_pattern = len(t.lsoa), len(t.msoa), len(self.X)
        n_la = self.data.geography.n_la
        y_lsoa = summer(t.cell_lsoa, n_lsoa) @ t.counts
        y_msoa = summer(t.lsoa_msoa, n_msoa) @ y_lsoa
        if cfg.row_level:  # one term per record: gathers and sums over every child
            log_mu = (np.log(t.exposure)[:, None] + gather(a, t.cell_lsoa, n_lsoa)
                      + gather(G, t.cell_pattern, n_pattern))
            lam_lsoa = segment_sum(pt.exp(log_mu), t.cell_lsoa, n_lsoa)
            numerator = (t.counts * log_mu).sum()
        else:  # sufficient statistics: one sparse (LSOA x pattern) product
            lam_lsoa = pt.exp(a) * matrix_product(pt.exp(G), t.cell_lsoa, t.cell_pattern,
                                                  t.exposure, n_lsoa, n_pattern)
            y_pattern = summer(t.cell_pattern, n_pattern) @ t.counts
            numerator = (y_lsoa * a).sum() + (y_pattern * G).sum()
        lam_msoa = segment_sum(lam_lsoa, t.lsoa_msoa, n_msoa)
        shape = None
        if cfg.msoa_effects:
            msoa_cv = self.priors["msoa_cv"].create_variable("msoa_cv")
            shape = 1.0 / pt.sqr(msoa_cv)

        mu = lam_msoa
        if cfg.la_effects:
            events = self._covered_la_totals()
            la_exposure = np.bincount(t.cell_la, weights=t.exposure, minlength=n_la)
            has_data = la_exposure > 0
            safe_exposure = np.where(has_data, la_exposure, 1.0)[:, None]
            observed = np.log((events + 0.5) / safe_exposure)
            variance = pt.as_tensor(log_rate_variance(events))
            if shape is not None:
                variance = variance + pt.sqr(msoa_cv)[None, :] * \
                    self._la_unit_concentration(t.exposure)

            def location_gap():
                la_lam = segment_sum(lam_msoa, t.msoa_la, n_la)
                # LAs without data get weight 0; the switch keeps log(0) out of the graph.
                return pt.switch(has_data[:, None],
                                 pt.log(la_lam / safe_exposure) - observed, 0.0)

            la_effect = self._la_effects(variance, location_gap)
            mu = lam_msoa * pt.exp(gather(la_effect, t.msoa_la, n_la))
        counts_msoa = np.rint(y_msoa).astype(np.int64)
        # One 1-d column per service: with a scalar shape the rising factorial is taken once
        # per distinct count (count_likelihoods), not with gammaln per MSOA.
        msoa_term = sum(
            (negative_binomial_logp(counts_msoa[:, j], mu[:, j], shape[j]) if shape is not None
             else counts_msoa[:, j] * pt.log(mu[:, j]) - mu[:, j]).sum()
            for j in range(len(self.services)))
        # Data only through the MSOA totals: the multinomial split's log Lambda_msoa term.
        log_lam_msoa = pt.log(lam_msoa)

        if cfg.lsoa_effects:  # Dirichlet-multinomial LSOA split (Dirichlet LSOA effects)
            delta = self.priors["lsoa_dispersion"].create_variable("lsoa_dispersion")[None, :]
            lsoa_split = (_rising(lam_lsoa / delta, y_lsoa)
                          - _rising(lam_msoa / delta, y_msoa))
        else:
            lsoa_split = (y_lsoa * pt.log(lam_lsoa)).sum() - (y_msoa * log_lam_msoa).sum()

        if cfg.family == "negbin":  # Dirichlet-multinomial cell split (NB1 children)
            psi = self.priors["child_dispersion"].create_variable("child_dispersion")[None, :]
            pos = np.flatnonzero(t.counts.any(axis=1))
            log_mu_pos = (np.log(t.exposure[pos])[:, None] + gather(a, t.cell_lsoa[pos], n_lsoa)
                          + gather(G, t.cell_pattern[pos], n_pattern))
            cell_split = (_rising(pt.exp(log_mu_pos) / psi, t.counts[pos])
                          - _rising(lam_lsoa / psi, y_lsoa))
        elif cfg.lsoa_effects:
            cell_split = numerator - (y_lsoa * pt.log(lam_lsoa)).sum()
        else:  # the LSOA terms of the two multinomial splits cancel
            return msoa_term + numerator - (y_msoa * log_lam_msoa).sum()
        return msoa_term + lsoa_split + cell_split

    def _binomial_loglik(self, a, G):
        """Binomial log-likelihood of collapsed binary outcomes, up to a constant."""
        t, n_la = self.train, self.data.geography.n_la
        eta = gather(a, t.cell_lsoa, len(t.lsoa)) + gather(G, t.cell_pattern, len(self.X))
        sigma_msoa = None
        if self.config.msoa_effects:
            sigma_msoa = self.priors["sigma_msoa"].create_variable("sigma_msoa")
        if self.config.la_effects:
            events = self._covered_la_totals()
            children = np.bincount(t.cell_la, weights=t.children, minlength=n_la)[:, None]
            # Logit of the LA's observed proportion and its sampling variance.
            observed = np.log((events + 0.5) / np.maximum(children - events + 0.5, 0.5))
            variance = pt.as_tensor(log_rate_variance(events)
                                    + log_rate_variance(np.maximum(children - events, 0.0)))
            if sigma_msoa is not None:
                variance = variance + pt.sqr(sigma_msoa)[None, :] * \
                    self._la_unit_concentration(t.children)
            has_data = children[:, 0] > 0
            share = np.divide(t.children, children[t.cell_la, 0], out=np.zeros(len(t.children)),
                              where=children[t.cell_la, 0] > 0)

            def location_gap():
                # The LA's child-weighted mean fixed linear predictor less its observed logit.
                fixed = sparse_product(eta, t.cell_la, np.arange(len(share)), share, n_la,
                                       len(share))
                return pt.switch(has_data[:, None], fixed - observed, 0.0)

            la_effect = self._la_effects(variance, location_gap)
            eta = eta + gather(la_effect, t.cell_la, n_la)
        if sigma_msoa is not None:
            raw = pm.Normal("msoa_raw", 0.0, 1.0, dims=(dims.MSOA, dims.SERVICE))
            eta = eta + gather(raw * sigma_msoa[None, :], t.cell_msoa, len(t.msoa))
        return (t.counts * eta - t.children[:, None] * pt.softplus(eta)).sum()

    # ------------------------------------------------------------------ fitting
    def initial_values(self) -> dict[str, np.ndarray]:
        """Return NUTS start values: each service's intercept at its overall rate (or logit)."""
        return {"intercept": self._initial_intercepts()}

    def la_name_labels(self) -> np.ndarray:
        """Return the name of each LA of the ``la`` dim (shown with the codes by ArviZ)."""
        return self.data.geography.names(dims.LA)

    def data_hash(self) -> str:
        """Return the hash of the model data (:meth:`PersonModelData.data_hash`)."""
        return self.data.data_hash()

    def stored_config(self) -> dict[str, Any]:
        """Return options, priors, services, covariates, child terms and held-out LAs.

        Cell-level data are never stored with a fit.
        """
        return {"model": self.config.to_dict(), "priors": priors_to_config(self.priors),
                "services": list(self.services), "covariates": list(self.covariate_names),
                "child_terms": list(self.child_terms),
                "holdout_las": list(self.holdout_las)}

    @classmethod
    def load(cls, path: str | Path, data: PersonModelData
             ) -> tuple[PersonDemandModel, az.InferenceData]:
        """Load a saved fit, checking it was made on ``data``.

        Parameters
        ----------
        path
            A file written by :meth:`save`.
        data
            The person-model data the fit was made on.

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
            data, PersonModelConfig.from_dict(config["model"]), priors=priors,
            holdout_las=config.get("holdout_las", ())))
