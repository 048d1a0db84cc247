"""Fitting, fit metadata and persistence shared by the model classes.

:class:`FittableModel` is a small base class of OUR model classes (the area and person demand
models and the cost-weight model), never of :class:`pymc.Model`: a subclass builds its PyMC
graph in :meth:`~FittableModel.build_model` and says what a fit stores; this class samples it
with :func:`~bayes_needs.models.sampling.sample_nuts` (``method="nuts"``) or approximates it
with :func:`~bayes_needs.models.laplace.laplace_fit` (``method="laplace"``), writes the
metadata every fit carries and reads fits back. The netCDF attributes (kind, stored config,
data hash, package version, how the posterior was computed and the convergence summary) are
written through :mod:`bayes_needs.core.idata`. A fit read back is checked against the model
its stored config rebuilds, and its convergence summary is recomputed rather than read (an
approximate fit's record is checked instead; :mod:`bayes_needs.models.fit_checks`).
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import arviz as az
import numpy as np
import pymc as pm
from pymc_extras.prior import Prior

from bayes_needs.config.priors import parse_priors
from bayes_needs.config.run import METHODS
from bayes_needs.core import convergence, defaults, dims
from bayes_needs.core import idata as idata_io
from bayes_needs.core.errors import BayesNeedsError, ConfigError
from bayes_needs.models.fit_checks import (
    CONVERGENCE_ATTR,
    check_posterior,
    record_json,
    verified_convergence,
)
from bayes_needs.models.laplace import ApproximationError
from bayes_needs.models.laplace_functions import BlockSpec
from bayes_needs.models.nested_laplace import approximate_posterior
from bayes_needs.models.sampling import check_sampling_arguments, sample_nuts

__all__ = ["CONVERGENCE_ATTR", "FittableModel", "chosen_covariates"]

#: A model class's own type, for :meth:`FittableModel.read_fit`.
Model = TypeVar("Model", bound="FittableModel")


def chosen_covariates(wanted: tuple[str, ...] | list[str] | None,
                      available: tuple[str, ...], what: str) -> tuple[str, ...]:
    """Return the covariates a model config asks for (all ``available`` if ``None``).

    Raises
    ------
    ConfigError
        If a wanted covariate is not in the data, naming it and listing the available ones.
    """
    chosen = tuple(available if wanted is None else wanted)
    unknown = sorted(set(chosen) - set(available))
    if unknown:
        raise ConfigError(f"{what}(s) {unknown} are not in the data; available: "
                          f"{list(available)}")
    return chosen


class FittableModel(ABC):
    """Base class of the model classes: fit, metadata, save and load.

    Subclasses set :attr:`KIND` and :attr:`MONITORED`, implement :meth:`build_model`,
    :meth:`data_hash` and :meth:`stored_config`, and may override :meth:`initial_values`.
    """

    #: Kind of fit stored with it and checked on load (``"area"``, ``"person"``, ...).
    KIND: ClassVar[str]
    #: Variables whose convergence summary is stored with a fit.
    MONITORED: ClassVar[tuple[str, ...]]
    #: Sampling settings recorded under ``"run"`` in the stored config.
    RUN_INFO: ClassVar[tuple[str, ...]] = ("random_seed", "sampler")
    #: NUTS target acceptance rate when the caller gives none.
    DEFAULT_TARGET_ACCEPT: ClassVar[float] = defaults.TARGET_ACCEPT
    #: Observed variables whose pointwise log-likelihood is added to every fit.
    POINTWISE_LOG_LIKELIHOOD: ClassVar[tuple[str, ...]] = ()
    #: Reparameterisation variables a saved fit keeps out of its posterior, in
    #: :data:`bayes_needs.core.idata.INTERNAL_GROUP` (put back when it is read).
    INTERNAL: ClassVar[tuple[str, ...]] = ()
    #: Value variables local to one LA -> their LA axis, for the Laplace approximation's
    #: structured Hessian (:func:`~bayes_needs.models.laplace.layout_for`); those the built
    #: model lacks are ignored, and none means a dense Hessian.
    LOCAL: ClassVar[dict[str, int]] = {}
    #: Free variables that are hyperparameters, integrated over a lattice by the nested
    #: Laplace approximation where the plain one fails
    #: (:mod:`~bayes_needs.models.nested_laplace`); none: no nested approximation.
    HYPER: ClassVar[tuple[str, ...]] = ()
    #: The dimension along which the posterior factorises into blocks (an area model's
    #: services: every term belongs to one of them), where it does. Used only when the built
    #: model's every free variable has it among its dims
    #: (:func:`~bayes_needs.models.laplace_functions.block_terms`).
    BLOCK_DIM: ClassVar[str | None] = None

    #: The PyMC model, once built.
    model: pm.Model | None = None

    # ------------------------------------------------------------------ subclass hooks
    @abstractmethod
    def build_model(self) -> pm.Model:
        """Build (and cache in :attr:`model`) the PyMC model."""

    @abstractmethod
    def data_hash(self) -> str:
        """Return the hash of the data the model is built on (stored with fits)."""

    @abstractmethod
    def stored_config(self) -> dict[str, Any]:
        """Return everything needed to rebuild this model on the same data (JSON-able)."""

    def observed_blocks(self) -> dict[str, int]:
        """Return each observed variable's block, its position along :attr:`BLOCK_DIM`.

        ``{}``: not known, so the posterior is taken as one block.
        """
        return {}

    def initial_values(self) -> dict[str, np.ndarray] | None:
        """Return start values for PyMC's own sampler (``None``: PyMC's defaults)."""
        return None

    # ------------------------------------------------------------------ shared behaviour
    def graph_key(self) -> tuple[str, str, str]:
        """Return what identifies the built graph: kind, data hash and stored config.

        Our models hold their data as graph constants, so two models with equal keys have
        equal graphs and share compiled functions
        (:func:`~bayes_needs.models.laplace_functions.density_functions`).
        """
        return (f"{type(self).__module__}.{type(self).__qualname__}", self.data_hash(),
                json.dumps(self.stored_config(), sort_keys=True, default=str))

    def built_model(self) -> pm.Model:
        """Return the PyMC model, building it on first use."""
        return self.model if self.model is not None else self.build_model()

    def fit(self, *, random_seed: int, draws: int = defaults.DRAWS, tune: int = defaults.TUNE,
            chains: int = defaults.CHAINS, cores: int | None = None,
            sampler: str = defaults.SAMPLER, target_accept: float | None = None,
            progressbar: bool = False, method: str = defaults.SAMPLING_METHOD,
            **sample_kwargs: Any) -> az.InferenceData:
        """Sample (or approximate) the posterior; store config, data hash and convergence.

        Parameters
        ----------
        random_seed
            Seed for the sampler (required: fits are reproducible by construction).
        draws, tune, chains, cores
            Passed to :func:`pymc.sample`.
        sampler
            ``"nutpie"`` (default), ``"pymc"`` or ``"numpyro"`` (needs ``bayes-needs[fast]``).
        target_accept
            NUTS target acceptance rate; ``None`` uses :attr:`DEFAULT_TARGET_ACCEPT`.
        progressbar
            Show the sampler's bar on stderr (off by default; the CLI turns it on).
        method
            ``"nuts"`` (default) samples with NUTS; ``"laplace"`` approximates the posterior
            (:func:`~bayes_needs.models.laplace.laplace_fit`, with :attr:`LOCAL` and
            :meth:`initial_values`): ``chains x draws`` importance-resampled draws, seeded by
            ``random_seed``, whose record is the approximation's Pareto k̂ (the NUTS settings
            are not used).
        **sample_kwargs
            Further keywords for :func:`pymc.sample`.

        Returns
        -------
        arviz.InferenceData
            The fit, with its metadata in the posterior attributes.

        Raises
        ------
        ConfigError
            For an unknown ``method`` or a bad number of draws or chains.
        ApproximationError
            If the Laplace approximation finds no mode.
        """
        if method not in METHODS:
            raise ConfigError(f"method must be one of {list(METHODS)}, got {method!r}")
        if target_accept is None:
            target_accept = self.DEFAULT_TARGET_ACCEPT
        model = self.built_model()
        settings = {"random_seed": random_seed, "draws": draws, "tune": tune, "chains": chains,
                    "sampler": sampler, "target_accept": target_accept}
        run_info = {key: settings[key] for key in self.RUN_INFO}
        approximation = None
        if method == "laplace":
            check_sampling_arguments(draws=draws, tune=tune, chains=chains)
            value_names = {v.name for v in model.value_vars}
            local = {k: axis for k, axis in self.LOCAL.items() if k in value_names}
            try:
                result = approximate_posterior(
                    model, random_seed=random_seed, draws=draws, chains=chains,
                    local=local or None, start=self.initial_values(), hyper=self.HYPER,
                    block_spec=None if self.BLOCK_DIM is None else BlockSpec(
                        self.BLOCK_DIM, self.observed_blocks()),
                    cache_key=self.graph_key())
            except ApproximationError as exc:
                raise ApproximationError(f"{exc} (the {self.KIND} model); fit it with method "
                                         f"'nuts' instead") from None
            idata = idata_io.from_draws(result.draws, model)
            approximation = convergence.approximation_summary(
                method=method, pareto_k=result.pareto_k, importance_ess=result.importance_ess,
                n_chains=chains, n_draws=draws, variant=result.variant,
                hyper_points=result.hyper_points)
            run_info = {"random_seed": random_seed, "draws": draws, "chains": chains,
                        "method": method, "approximate": True, "pareto_k": result.pareto_k,
                        "importance_ess": result.importance_ess,
                        "proposals": result.proposals, "blocks": result.blocks,
                        "variant": result.variant, "hyper_points": result.hyper_points,
                        "iterations": result.iterations,
                        "gradient_evaluations": result.gradient_evaluations}
        else:
            idata = sample_nuts(model, random_seed=random_seed, draws=draws, tune=tune,
                                chains=chains, cores=cores, sampler=sampler,
                                target_accept=target_accept, progressbar=progressbar,
                                initvals=self.initial_values(), **sample_kwargs)
        if self.POINTWISE_LOG_LIKELIHOOD:
            with model:
                pm.compute_log_likelihood(idata, var_names=list(self.POINTWISE_LOG_LIKELIHOOD),
                                          model=model, progressbar=False)
        self.attach_metadata(idata, approximation=approximation, **run_info)
        return idata

    def attach_metadata(self, idata: az.InferenceData, *,
                        approximation: dict[str, Any] | None = None, **run_info: Any) -> None:
        """Store config, data hash and the convergence summary in ``idata``.

        Parameters
        ----------
        idata
            A fit of this model, changed in place.
        approximation
            An approximate fit's record
            (:func:`~bayes_needs.core.convergence.approximation_summary`), stored in place of
            the convergence summary; ``None``: a NUTS fit, whose summary is computed.
        **run_info
            Sampling settings, stored as the config's ``"run"`` entry.
        """
        if approximation is None:
            post = idata_io.posterior(idata)
            record = convergence.convergence_summary(
                idata, [v for v in self.MONITORED if v in post])
        else:
            record = approximation
        idata_io.set_metadata(idata, kind=self.KIND,
                              config={**self.stored_config(), "run": run_info},
                              data_hash=self.data_hash(),
                              method=convergence.method_of(record),
                              approximate=convergence.is_approximate(record),
                              inference=convergence.describe_method(record))
        idata_io.posterior(idata).attrs[CONVERGENCE_ATTR] = record_json(record)

    def save(self, idata: az.InferenceData, path: str | Path) -> Path:
        """Write the fit to netCDF atomically (config and data hash in its attributes).

        The file holds :meth:`inspection_data`, laid out for stock ArviZ.

        Parameters
        ----------
        idata
            A fit of this model.
        path
            Target file.

        Returns
        -------
        pathlib.Path
            The written file.
        """
        return idata_io.save(self.inspection_data(idata), path)

    def inspection_data(self, idata: az.InferenceData) -> az.InferenceData:
        """Return the fit as :meth:`save` writes it, for stock ArviZ.

        :attr:`INTERNAL` moves out of the posterior and every ``la`` dim gets ``la_name``
        (:meth:`la_name_labels`). Subclasses may add the groups ArviZ reads (observations,
        predictions, pointwise log-likelihoods).
        """
        laid_out = idata_io.without_internal(idata, self.INTERNAL)
        names = self.la_name_labels()
        return laid_out if names is None else \
            idata_io.with_dim_labels(laid_out, dims.LA, dims.LA_NAME, names)

    def la_name_labels(self) -> np.ndarray | None:
        """Return the name of each LA of the model's ``la`` dim (``None``: it has none)."""
        return None

    @classmethod
    def read_fit(cls: type[Model], path: str | Path, data_hash: str,
                 build: Callable[[dict[str, Any], dict[str, Prior]], Model]
                 ) -> tuple[Model, az.InferenceData]:
        """Read a saved fit of this kind made on data hashing to ``data_hash``, and check it.

        The model is rebuilt from the stored config with ``build``; the posterior must hold
        every variable of that model, shaped as it and finite, and the stored convergence
        record must agree with the one recomputed from the posterior, which replaces it
        (:mod:`bayes_needs.models.fit_checks`).

        Parameters
        ----------
        path
            A file written by :meth:`save`.
        data_hash
            Hash of the data the caller will rebuild the model on.
        build
            ``build(stored_config, stored_priors)`` returns the model the fit belongs to.

        Returns
        -------
        tuple
            The rebuilt model and the checked fit.

        Raises
        ------
        DataHashMismatchError
            If the fit was made on other data.
        BayesNeedsError
            If the file's stored config cannot rebuild the model, a posterior variable is
            missing, misshapen or not finite, or its convergence record disagrees with the
            posterior; each names the file.
        """
        source = str(path)
        # PyMC recomputes densities and predictions from every free variable.
        idata = idata_io.with_internal(idata_io.load(path, expected_kind=cls.KIND))
        idata_io.check_data_hash(idata, data_hash, source=source)
        config = idata_io.get_config(idata)
        try:
            priors = parse_priors(config["priors"], source=f"{path} (stored priors)")
            model = build(config, priors)
        except (KeyError, TypeError, ValueError, AttributeError, BayesNeedsError) as exc:
            # A stored config is written by save(); anything it lacks was altered or damaged.
            detail = f"missing entry {exc}" if isinstance(exc, KeyError) else str(exc)
            raise BayesNeedsError(f"{path}: the stored config cannot rebuild the "
                                  f"{cls.KIND} model ({detail})") from None
        check_posterior(idata, model.built_model(), source)
        verified_convergence(idata, cls.MONITORED, source)
        return model, idata
