"""Fits and their files: sample a demand model, write ``fit.nc`` and ``run.json``, reload.

A :class:`FitResult` holds either demand model: the area runs of
:mod:`bayes_needs.workflows.pipeline` and the person-based runs of
:mod:`bayes_needs.workflows.person_pipeline` share need, allocation and the summary. A fit's
config is never changed after the fit: :func:`load_fit` takes the config to carry (e.g. the
stored one with command-line overrides) instead.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

import arviz as az
import numpy as np

from bayes_needs.config.run import RunConfig, parse_run_config
from bayes_needs.core.convergence import convergence_summary, inference_record
from bayes_needs.core.errors import ConfigFileError, MissingDataError
from bayes_needs.core.outputs import RUN, output_set, write_text
from bayes_needs.data.area import AreaData
from bayes_needs.models.area import AreaDemandModel
from bayes_needs.models.fit_checks import stored_record
from bayes_needs.models.person import PersonDemandModel
from bayes_needs.workflows.inputs import load_area_data

FIT_FILE = "fit.nc"
RUN_FILE = "run.json"

#: The model a fit holds: the area or the person demand model.
DemandModel = TypeVar("DemandModel", AreaDemandModel, PersonDemandModel)


@dataclass
class FitResult(Generic[DemandModel]):
    """A fitted demand model with its run config and a description of its data.

    Attributes
    ----------
    model
        The fitted :class:`~bayes_needs.models.area.AreaDemandModel` or
        :class:`~bayes_needs.models.person.PersonDemandModel`.
    idata
        Its posterior.
    config
        The run config it was fitted with (need and allocation settings are read from it).
    data_info
        How the data were obtained (``"synthetic"``: the synthetic truth, never stored).
    seconds
        Wall time of the fit.
    """

    model: DemandModel
    idata: az.InferenceData
    config: RunConfig
    data_info: dict[str, Any] = field(default_factory=dict)
    seconds: float = float("nan")


def fit_area(config: RunConfig, data: AreaData | None = None,
             data_info: dict[str, Any] | None = None) -> FitResult[AreaDemandModel]:
    """Load the data (unless given), build the area model and sample it.

    Parameters
    ----------
    config
        The run config: data, model options, priors and sampling settings.
    data
        The area data; by default loaded as ``config.data`` describes.
    data_info
        How ``data`` were obtained (stored with the fit).

    Returns
    -------
    FitResult
        The fit, with its wall time.
    """
    if data is None:
        data, data_info = load_area_data(config.data)
    model = AreaDemandModel(data, config.model, priors=config.priors)
    return sample_model(model, config, data_info)


def sample_model(model: Any, config: RunConfig, data_info: dict[str, Any] | None = None
                 ) -> FitResult[Any]:
    """Sample ``model`` with the config's sampling settings and time it.

    Parameters
    ----------
    model
        A built or unbuilt model (any :class:`~bayes_needs.models.base.FittableModel`).
    config
        The run config (its ``sampling`` section is used).
    data_info
        How the model's data were obtained (stored with the fit).

    Returns
    -------
    FitResult
        The fit, with its wall time.
    """
    s = config.sampling
    start = time.perf_counter()
    idata = model.fit(random_seed=s.random_seed, draws=s.draws, tune=s.tune, chains=s.chains,
                      sampler=s.sampler, target_accept=s.target_accept,
                      progressbar=s.progressbar, cores=s.cores, method=s.method)
    return FitResult(model, idata, config, data_info or {}, time.perf_counter() - start)


def convergence(idata: az.InferenceData) -> dict[str, Any]:
    """Return the convergence summary of a fit (computed if it has none).

    A fit read back from a file carries the summary recomputed from its posterior when it
    was loaded (:mod:`bayes_needs.models.fit_checks`), never the stored one.

    Parameters
    ----------
    idata
        A fit of a demand model, sampled in this process or loaded with a model's ``load``.

    Returns
    -------
    dict
        Max R-hat, min bulk and tail ESS, divergences, min BFMI, chains and draws (see
        :func:`bayes_needs.core.convergence.convergence_summary`).
    """
    record = stored_record(idata, "the fit")
    return record if record is not None else convergence_summary(idata)


def stage_fit(fit: FitResult[DemandModel], directory: Path) -> None:
    """Write ``fit.nc`` and ``run.json`` into ``directory`` (a set's staging directory).

    Parameters
    ----------
    fit
        The fit; the synthetic truth in its ``data_info`` is not stored.
    directory
        Where to write.
    """
    fit.model.save(fit.idata, directory / FIT_FILE)
    info = {k: v for k, v in fit.data_info.items() if k != "synthetic"}
    run = {"config": fit.config.model_dump(), "data_info": info,
           "data_hash": fit.model.data.data_hash(), "fit_seconds": fit.seconds,
           "inference": inference_record(convergence(fit.idata))}
    write_text(directory / RUN_FILE, json.dumps(run, indent=2, sort_keys=True, default=str))


def write_fit(fit: FitResult[AreaDemandModel], out_dir: Path) -> tuple[str, ...]:
    """Write ``fit.nc`` and ``run.json`` as one set (both or neither).

    The set is a run (:data:`bayes_needs.core.outputs.RUN`): the allocation and report
    files of the directory's previous fit are removed with it, as they do not belong to the
    new fit.

    Parameters
    ----------
    fit
        The fit.
    out_dir
        The run directory (created if missing); see
        :func:`bayes_needs.core.outputs.output_set`.

    Returns
    -------
    tuple of str
        The previous outputs removed (the previous fit's allocation files, its report).
    """
    with output_set(out_dir, RUN) as outputs:
        stage_fit(fit, outputs.staging)
    return outputs.removed


def read_run_config(run_dir: Path) -> RunConfig:
    """Read the run config of a fit written by :func:`write_fit`.

    Parameters
    ----------
    run_dir
        The run directory.

    Returns
    -------
    RunConfig
        The config stored in ``run.json``.

    Raises
    ------
    MissingDataError
        If ``run.json`` or ``fit.nc`` does not exist.
    ConfigFileError
        If ``run.json`` is not a run file.
    """
    _run, config = _read_run_file(run_dir)
    return config


def load_fit(run_dir: Path, config: RunConfig | None = None, *,
             rebuild: Callable[[RunConfig, Path], tuple[Any, Any, dict[str, Any]]] | None = None
             ) -> FitResult[Any]:
    """Reload a fit written by :func:`write_fit`, rebuilding and hash-checking its data.

    Parameters
    ----------
    run_dir
        The run directory.
    config
        The config the reloaded fit carries (its need and allocation settings are used from
        then on); by default the stored one (:func:`read_run_config`). Its data must be the
        stored data.
    rebuild
        ``rebuild(config, fit_path) -> (model, idata, data_info)``: reloads the data the
        config describes and the model saved at ``fit_path`` (checking its data hash). By
        default the area model's; panel runs pass their own.

    Returns
    -------
    FitResult
        The fit.
    """
    run, stored = _read_run_file(run_dir)
    config = stored if config is None else config
    model, idata, data_info = (rebuild or _rebuild_area)(config, run_dir / FIT_FILE)
    seconds = run.get("fit_seconds")
    return FitResult(model, idata, config, data_info,
                     np.nan if seconds is None else float(seconds))


def _rebuild_area(config: RunConfig, fit_path: Path
                  ) -> tuple[AreaDemandModel, Any, dict[str, Any]]:
    """Reload the area data of ``config`` and the area model saved at ``fit_path``."""
    data, data_info = load_area_data(config.data)
    model, idata = AreaDemandModel.load(fit_path, data)
    return model, idata, data_info


def _read_run_file(run_dir: Path) -> tuple[dict[str, Any], RunConfig]:
    """Check a run directory has both files; return ``run.json`` and its parsed config.

    Raises
    ------
    MissingDataError
        If either file does not exist.
    ConfigFileError
        If ``run.json`` is not UTF-8 JSON of the run-file shape, naming what is wrong.
    """
    run_file, fit_file = run_dir / RUN_FILE, run_dir / FIT_FILE
    for path in (run_file, fit_file):
        if not path.is_file():
            raise MissingDataError(f"{path} does not exist; run 'bayes-needs fit --out "
                                   f"{run_dir}' first")
    run = _run_file_json(run_file)
    problems = [f"'{key}' must be {kind}, got {type(run[key]).__name__}"
                for key, (kind, ok) in _RUN_FILE_ENTRIES.items()
                if key in run and not ok(run[key])]
    if "config" not in run:
        problems.insert(0, "'config' is missing")
    if problems:
        raise ConfigFileError(f"{run_file} (not a bayes_needs run file)", problems)
    return run, parse_run_config(run["config"], source=str(run_file))


#: Entries of ``run.json`` that are read back: what each must be, and its check.
_RUN_FILE_ENTRIES: dict[str, tuple[str, Callable[[Any], bool]]] = {
    "config": ("a JSON object", lambda v: isinstance(v, dict)),
    "data_info": ("a JSON object", lambda v: isinstance(v, dict)),
    "data_hash": ("text", lambda v: isinstance(v, str)),
    "fit_seconds": ("a number", lambda v: v is None or (isinstance(v, int | float)
                                                         and not isinstance(v, bool))),
}


def _run_file_json(run_file: Path) -> dict[str, Any]:
    """Read ``run.json`` as a JSON object, naming what is wrong with the file if it is not."""
    problem = ""
    try:
        run = json.loads(run_file.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as exc:
        problem = f"not valid UTF-8 (byte {exc.start + 1} of the file)"
    except json.JSONDecodeError as exc:
        problem = f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
    except RecursionError:
        problem = "invalid JSON: nested too deeply"
    if not problem and not isinstance(run, dict):
        problem = f"the top level must be a JSON object, got {type(run).__name__}"
    if problem:
        raise ConfigFileError(f"{run_file} (not a bayes_needs run file)", [problem])
    return run


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence library chatter during batch fits (their convergence is reported instead)."""
    loggers = [logging.getLogger(n) for n in ("pymc", "pytensor", "arviz")]
    levels = [lg.level for lg in loggers]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for lg in loggers:
            lg.setLevel(logging.CRITICAL)  # PyMC logs convergence warnings as errors
        try:
            yield
        finally:
            for lg, level in zip(loggers, levels, strict=True):
                lg.setLevel(level)
