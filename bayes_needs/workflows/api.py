"""One object for a run from Python: config -> fit -> need -> allocate -> save/load -> report.

:class:`Run` holds a run config, its data and, step by step, the fit, the need draws, the
allocation and the convergence gate. It wraps the workflow functions the CLI uses
(:mod:`bayes_needs.workflows.fits`, :mod:`~bayes_needs.workflows.pipeline`,
:mod:`~bayes_needs.workflows.report`), so a script and ``bayes-needs fit --allocate`` give the
same files::

    from bayes_needs import Run, RunConfig

    run = Run(RunConfig(data={"source": "synthetic", "scale": "tiny"}))
    run.fit(random_seed=1)
    allocation = run.allocate(interval_prob=0.9, interval_kind="eti", pot=1e9)
    run.save("runs/tiny")
    run.report()
    again = Run.load("runs/tiny")

Every seed and interval setting is an argument of the step it affects; an argument left at
``None`` keeps the run config's value, whose default is in :mod:`bayes_needs.core.defaults`.
The arguments given are written into the run config, so ``run.json`` records them.
:meth:`Run.allocate` applies the convergence gate (:mod:`bayes_needs.checks.gate`) as the CLI
does: an unconverged fit raises :class:`~bayes_needs.core.errors.ConvergenceError` unless
``on_unconverged="warn"``, which issues a
:class:`~bayes_needs.core.errors.ConvergenceWarning` and records the override in the outputs.
Area-model runs only; panel runs go through :func:`bayes_needs.workflows.runs.fit_run`.
"""

from __future__ import annotations

import dataclasses
import functools
import warnings
from pathlib import Path
from typing import Any, Literal, get_args

import arviz as az
import xarray as xr

from bayes_needs.allocation import Allocation, CostWeights
from bayes_needs.checks.gate import (
    DEFAULT_THRESHOLDS,
    GateHints,
    GateResult,
    Thresholds,
    enforce,
    record_in_allocation,
    warning_text,
)
from bayes_needs.config.models import Standardisation
from bayes_needs.config.run import PANEL_SOURCES, RunConfig, SamplingMethod, load_run_config
from bayes_needs.core.errors import ConfigError, ConvergenceWarning
from bayes_needs.core.intervals import IntervalKind
from bayes_needs.data.area import AreaData
from bayes_needs.models.area import AreaDemandModel
from bayes_needs.need import expected_need
from bayes_needs.simulate.area import SyntheticArea
from bayes_needs.workflows import pipeline
from bayes_needs.workflows.inputs import load_area_data
from bayes_needs.workflows.preflight import check_allocation_inputs
from bayes_needs.workflows.report import MAX_DRAWS, PREDICTIVE_DRAWS, build_report

__all__ = ["ON_UNCONVERGED", "PYTHON_HINTS", "OnUnconverged", "Run"]

#: What :meth:`Run.allocate` does with a fit that misses the convergence thresholds.
OnUnconverged = Literal["raise", "warn"]
ON_UNCONVERGED: tuple[str, ...] = get_args(OnUnconverged)
#: How a :class:`Run` user refits or overrides the gate, as the refusal names them.
PYTHON_HINTS = GateHints('on_unconverged="warn"', "Run.fit(tune=..., draws=...)",
                         'Run.fit(method="nuts")')
#: What ``run.json`` records of data passed to :class:`Run` directly.
GIVEN_DATA = "given in Python: reload with Run.load(directory, data=...)"


class Run:
    """One area-model run: its config and data, then its fit, need, allocation and gate.

    Parameters
    ----------
    config
        The run config (default: :class:`~bayes_needs.config.run.RunConfig` defaults).
    data
        The area data, or synthetic data with their truth (whose unit costs are then the
        default cost weights); by default loaded as ``config.data`` describes when fitting.

    Raises
    ------
    ConfigError
        If the config describes a panel run.
    """

    def __init__(self, config: RunConfig | None = None, *,
                 data: AreaData | SyntheticArea | None = None) -> None:
        self.config = RunConfig() if config is None else config
        if self.config.data.source in PANEL_SOURCES:
            raise ConfigError(f"Run: data.source {self.config.data.source!r} feeds the panel "
                              f"model; Run covers area-model runs (use "
                              f"bayes_needs.workflows.runs.fit_run for panel runs)")
        self._data: AreaData | None = None
        self._data_info: dict[str, Any] = {}
        if isinstance(data, SyntheticArea):
            self._data, self._data_info = data.data, {"synthetic": data}
        elif data is not None:
            self._data, self._data_info = data, {"data": GIVEN_DATA}
        self.fit_result: pipeline.FitResult[AreaDemandModel] | None = None
        self.need_draws: xr.Dataset | None = None
        self.allocation: Allocation | None = None
        self.gate: GateResult | None = None
        #: The directory the run was last saved to or loaded from, while it matches it.
        self.directory: Path | None = None

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_config(cls, path: str | Path, *, data_dir: str | Path | None = None,
                    year: int | None = None) -> Run:
        """Make a run from a run-config file (see ``examples/``).

        Parameters
        ----------
        path
            The TOML or YAML run config.
        data_dir, year
            The real data directory and year, which config files leave out (as
            ``--data-dir`` and ``--year`` do on the command line).

        Returns
        -------
        Run
            The run, not yet fitted.
        """
        config = load_run_config(path)
        given = {"data_dir": None if data_dir is None else str(Path(data_dir).resolve()),
                 "year": year}
        return cls(config.with_overrides(data=given))

    @classmethod
    def load(cls, directory: str | Path, *, data: AreaData | None = None) -> Run:
        """Reload a saved run: its fit (data hash checked) and allocation, if it has one.

        Parameters
        ----------
        directory
            A run directory written by :meth:`save` or by ``bayes-needs fit``/``demo``.
        data
            The data of a run whose data were passed to :class:`Run` directly (default:
            reloaded as the stored config describes).

        Returns
        -------
        Run
            The run with its fit, config and saved allocation; its need draws are drawn
            again by :meth:`need` or :meth:`allocate`.

        Raises
        ------
        ConfigError
            If the data were given in Python and ``data`` is not.
        DataHashMismatchError
            If ``data`` are not the data the fit was made from.
        """
        directory = Path(directory)
        stored = pipeline.read_run_config(directory).data
        if data is None and stored.source == "england" and stored.data_dir is None:
            raise ConfigError(f"{directory}: its run config names no data to reload (were "
                              f"they given in Python?); pass them: Run.load(directory, "
                              f"data=...)")
        rebuild = None if data is None else functools.partial(_rebuild_given, data)
        fit = pipeline.load_fit(directory, rebuild=rebuild)
        run = cls(fit.config)
        run._data, run._data_info = fit.model.data, fit.data_info
        run.fit_result = fit
        saved = directory / pipeline.ALLOCATION_FILE
        run.allocation = Allocation.from_netcdf(saved) if saved.is_file() else None
        run.directory = directory
        return run

    # ------------------------------------------------------------------ steps
    def fit(self, *, random_seed: int | None = None, draws: int | None = None,
            tune: int | None = None, chains: int | None = None, sampler: str | None = None,
            target_accept: float | None = None, cores: int | None = None,
            progress: bool | None = None, method: SamplingMethod | None = None) -> Run:
        """Sample the area model (seeded); settings given here go into the run config.

        Parameters
        ----------
        method
            ``"nuts"`` samples the posterior; ``"laplace"`` approximates it, much faster
            (:mod:`bayes_needs.models.laplace`), and :meth:`allocate` then gates on the
            approximation's Pareto k̂ (default: the config's, else
            :data:`bayes_needs.core.defaults.SAMPLING_METHOD`).
        random_seed
            NUTS seed (default: the config's, else
            :data:`bayes_needs.core.defaults.RANDOM_SEED`).
        draws, tune, chains, sampler, target_accept, cores
            Sampling settings (default: the config's ``sampling`` section).
        progress
            Show the sampler's bar (default: the config's, off).

        Returns
        -------
        Run
            This run, fitted (so calls chain: ``Run(config).fit().allocate()``).

        Raises
        ------
        BayesNeedsError
            If the data or an allocation input is missing or invalid, found before sampling.
        """
        self.config = self.config.with_overrides(sampling={
            "random_seed": random_seed, "draws": draws, "tune": tune, "chains": chains,
            "sampler": sampler, "target_accept": target_accept, "cores": cores,
            "progressbar": progress, "method": method})
        if self._data is None:
            self._data, self._data_info = load_area_data(self.config.data)
        check_allocation_inputs(self.config, self._data, self._data_info,
                                self._data.services, cost_weights=False)
        self.fit_result = pipeline.fit_area(self.config, self._data, self._data_info)
        self.need_draws = self.allocation = self.gate = None
        self.directory = None
        return self

    def need(self, *, random_seed: int | None = None,
             standardise: Standardisation | None = None) -> xr.Dataset:
        """Draw expected need per LA and service (:func:`bayes_needs.need.expected_need`).

        Parameters
        ----------
        random_seed
            Seed of the need draws (default: the config's, else
            :data:`bayes_needs.core.defaults.NEED_RANDOM_SEED`).
        standardise
            ``"la"`` (LA effects marginalised), ``"none"`` or ``"all"`` (default: the
            config's).

        Returns
        -------
        xarray.Dataset
            Draws of ``need``, ``fitted``, ``observed`` and ``exposure`` (chain, draw, la,
            service); also kept as :attr:`need_draws` for :meth:`allocate`.
        """
        fit = self._fitted()
        self._set_need(random_seed, standardise)
        need = self.config.need
        self.need_draws = expected_need(fit.model, fit.idata, random_seed=need.random_seed,
                                        standardise=need.standardise)
        return self.need_draws

    def allocate(self, *, interval_prob: float | None = None,
                 interval_kind: IntervalKind | None = None, pot: float | None = None,
                 currency: str | None = None, standardise: Standardisation | None = None,
                 random_seed: int | None = None, cost_weights: CostWeights | None = None,
                 on_unconverged: OnUnconverged = "raise",
                 thresholds: Thresholds = DEFAULT_THRESHOLDS) -> Allocation:
        """Share out the pot, after the convergence gate; the gate is recorded in the result.

        Parameters
        ----------
        interval_prob, interval_kind
            The credible intervals (default: the config's, else
            :data:`~bayes_needs.core.defaults.INTERVAL_PROB`,
            :data:`~bayes_needs.core.defaults.INTERVAL_KIND`).
        pot, currency
            The pot shared out and its ISO 4217 currency (default: the config's, else
            :data:`~bayes_needs.core.defaults.POT` and
            :data:`~bayes_needs.core.defaults.CURRENCY`).
        standardise, random_seed
            Need settings, as for :meth:`need`; the draws of :meth:`need` are reused when
            these match.
        cost_weights
            Fixed weights (mapping) or weight draws (DataArray with a ``service`` dim);
            default: the config's source, else the synthetic truth, else
            :data:`~bayes_needs.core.defaults.COST_WEIGHTS`.
        on_unconverged
            ``"raise"`` (default): refuse a fit that misses the thresholds; ``"warn"``:
            allocate anyway with a :class:`~bayes_needs.core.errors.ConvergenceWarning`.
        thresholds
            The convergence thresholds (default: the gate's).

        Returns
        -------
        Allocation
            Share, rank and money draws with their intervals; also kept as
            :attr:`allocation`.

        Raises
        ------
        ConvergenceError
            If the fit misses a threshold and ``on_unconverged`` is ``"raise"``; the message
            lists every failure and names ``on_unconverged="warn"``.
        """
        if on_unconverged not in ON_UNCONVERGED:
            raise ConfigError(f"on_unconverged must be one of {list(ON_UNCONVERGED)}, got "
                              f"{on_unconverged!r}")
        fit = self._fitted()
        gate = enforce(pipeline.convergence(fit.idata), hints=PYTHON_HINTS,
                       allow_unconverged=on_unconverged == "warn", thresholds=thresholds,
                       source="the fit")
        if not gate.passed:
            warnings.warn(warning_text(gate).removeprefix("warning: "), ConvergenceWarning,
                          stacklevel=2)
        reuse = self._set_need(random_seed, standardise)
        self.config = self.config.with_overrides(allocation={
            "interval_prob": interval_prob, "interval_kind": interval_kind, "pot": pot,
            "currency": currency})
        need, allocation = pipeline.need_and_allocation(
            dataclasses.replace(fit, config=self.config), cost_weights=cost_weights,
            need=self.need_draws if reuse else None)
        record_in_allocation(allocation, gate)
        self.need_draws, self.allocation, self.gate = need, allocation, gate
        self.directory = None
        return allocation

    # ------------------------------------------------------------------ files
    def save(self, directory: str | Path) -> Path:
        """Write the run's files as one set: the fit, and the allocation's files if allocated.

        Parameters
        ----------
        directory
            The run directory (created if missing); the files of its previous run go.

        Returns
        -------
        pathlib.Path
            ``directory``: ``fit.nc`` and ``run.json``, and after :meth:`allocate` every
            file of :data:`bayes_needs.workflows.pipeline.OUTPUT_FILES`.
        """
        fit, directory = self._current_fit(), Path(directory)
        if self.allocation is None or self.need_draws is None or self.gate is None:
            pipeline.write_fit(fit, directory)
        else:
            pipeline.write_run(fit, self.need_draws, self.allocation, directory,
                               extra=self.gate.summary_lines())
        self.directory = directory
        return directory

    def report(self, *, random_seed: int | None = None, baseline: str | Path | None = None,
               max_draws: int = MAX_DRAWS, predictive_draws: int = PREDICTIVE_DRAWS,
               progress: bool = False) -> Path:
        """Write ``report.html`` and its files into the run's directory.

        Parameters
        ----------
        random_seed, baseline, max_draws, predictive_draws, progress
            See :func:`bayes_needs.workflows.report.build_report` (the seed defaults to
            the config's ``need.random_seed``).

        Returns
        -------
        pathlib.Path
            The written ``report.html``.

        Raises
        ------
        ConfigError
            If the run has changed since it was saved or loaded (save it first).
        """
        if self.directory is None:
            raise ConfigError("Run.report: the report is of a saved run; call "
                              "run.save(directory) first")
        return build_report(self.directory, random_seed=random_seed, baseline=baseline,
                            max_draws=max_draws, predictive_draws=predictive_draws,
                            progress=progress)

    # ------------------------------------------------------------------ views
    @property
    def idata(self) -> az.InferenceData:
        """The fit's InferenceData (for ArviZ)."""
        return self._fitted().idata

    @property
    def model(self) -> AreaDemandModel:
        """The fitted area model (its data, services and PyMC model)."""
        return self._fitted().model

    @property
    def convergence(self) -> dict[str, Any]:
        """The fit's convergence summary (max R-hat, min bulk and tail ESS, divergences)."""
        return pipeline.convergence(self._fitted().idata)

    def __repr__(self) -> str:
        """Say what the run holds."""
        steps = [name for name, done in (("fitted", self.fit_result), ("allocated",
                 self.allocation), ("saved", self.directory)) if done is not None]
        return f"Run({self.config.data.source!r}, {', '.join(steps) or 'not fitted'})"

    # ------------------------------------------------------------------ helpers
    def _fitted(self) -> pipeline.FitResult[AreaDemandModel]:
        """Return the fit, or raise an error saying to fit first."""
        if self.fit_result is None:
            raise ConfigError("the run has no fit yet: call run.fit() (or Run.load(directory))")
        return self.fit_result

    def _current_fit(self) -> pipeline.FitResult[AreaDemandModel]:
        """Return the fit carrying the run's current config (the one ``run.json`` records)."""
        return dataclasses.replace(self._fitted(), config=self.config)

    def _set_need(self, random_seed: int | None, standardise: Standardisation | None) -> bool:
        """Apply need settings to the config; whether the current need draws still hold."""
        before = self.config.need
        self.config = self.config.with_overrides(need={"random_seed": random_seed,
                                                       "standardise": standardise})
        return self.need_draws is not None and self.config.need == before


def _rebuild_given(data: AreaData, config: RunConfig, fit_path: Path
                   ) -> tuple[AreaDemandModel, az.InferenceData, dict[str, Any]]:
    """Reload the area model saved at ``fit_path`` on data given in Python (hash checked)."""
    model, idata = AreaDemandModel.load(fit_path, data)
    return model, idata, {"data": GIVEN_DATA}
