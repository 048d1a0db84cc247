"""bayes_needs: Bayesian relative-needs funding formulae for children's services.

The names a script needs are importable from here. One object carries a run from config to
report (:class:`Run`, in :mod:`bayes_needs.workflows.api`)::

    from bayes_needs import Run, RunConfig

    run = Run(RunConfig(data={"source": "synthetic", "scale": "tiny"}))
    run.fit(random_seed=1)
    allocation = run.allocate(interval_prob=0.9)   # refuses an unconverged fit
    run.save("runs/tiny")

The building blocks it wraps (``fit_area``, ``need_and_allocation``, ``write_run``, ...) are
exported too; they do not apply the convergence gate.

They are loaded on first use, so ``import bayes_needs`` (and the ``bayes-needs`` command's
start-up) does not import PyMC until a model is needed. ``ARCHITECTURE.md`` maps the layers
they come from.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from bayes_needs.core import library_warnings
from bayes_needs.core.version import __version__

# Before any of our modules imports ArviZ or PyMC (see core/library_warnings.py).
library_warnings.install()

if TYPE_CHECKING:
    from bayes_needs.allocation import Allocation, Damping, allocate
    from bayes_needs.config.priors import load_priors
    from bayes_needs.config.run import RunConfig, load_run_config
    from bayes_needs.core.errors import BayesNeedsError, ConvergenceError, ConvergenceWarning
    from bayes_needs.core.intervals import credible_interval
    from bayes_needs.data.area import AreaData
    from bayes_needs.data.geography import Geography
    from bayes_needs.data.person_records import PersonData
    from bayes_needs.data.spend import SpendData, UnitCosts
    from bayes_needs.models.area import AreaDemandModel
    from bayes_needs.models.cost_weights import CostWeightModel
    from bayes_needs.models.person import PersonDemandModel
    from bayes_needs.need import expected_need
    from bayes_needs.simulate.area import generate_area
    from bayes_needs.simulate.person import generate_persons
    from bayes_needs.workflows import sensitivity
    from bayes_needs.workflows.api import Run
    from bayes_needs.workflows.fits import fit_area, load_fit
    from bayes_needs.workflows.pipeline import need_and_allocation, write_run
    from bayes_needs.workflows.report import build_report

#: Public name -> the module that defines it (a module itself where the value is ``""``).
_EXPORTS: dict[str, str] = {
    "AreaData": "bayes_needs.data.area",
    "PersonData": "bayes_needs.data.person_records",
    "SpendData": "bayes_needs.data.spend",
    "UnitCosts": "bayes_needs.data.spend",
    "Geography": "bayes_needs.data.geography",
    "BayesNeedsError": "bayes_needs.core.errors",
    "ConvergenceError": "bayes_needs.core.errors",
    "ConvergenceWarning": "bayes_needs.core.errors",
    "credible_interval": "bayes_needs.core.intervals",
    "RunConfig": "bayes_needs.config.run",
    "load_run_config": "bayes_needs.config.run",
    "load_priors": "bayes_needs.config.priors",
    "generate_area": "bayes_needs.simulate.area",
    "generate_persons": "bayes_needs.simulate.person",
    "AreaDemandModel": "bayes_needs.models.area",
    "PersonDemandModel": "bayes_needs.models.person",
    "CostWeightModel": "bayes_needs.models.cost_weights",
    "expected_need": "bayes_needs.need",
    "allocate": "bayes_needs.allocation",
    "Allocation": "bayes_needs.allocation",
    "Damping": "bayes_needs.allocation",
    "Run": "bayes_needs.workflows.api",
    "fit_area": "bayes_needs.workflows.fits",
    "load_fit": "bayes_needs.workflows.fits",
    "need_and_allocation": "bayes_needs.workflows.pipeline",
    "write_run": "bayes_needs.workflows.pipeline",
    "build_report": "bayes_needs.workflows.report",
    "sensitivity": "",
}
_MODULES = {"sensitivity": "bayes_needs.workflows.sensitivity"}

__all__ = [
    "Allocation", "AreaData", "AreaDemandModel", "BayesNeedsError", "ConvergenceError",
    "ConvergenceWarning", "CostWeightModel", "Damping", "Geography", "PersonData",
    "PersonDemandModel", "Run", "RunConfig", "SpendData",
    "UnitCosts", "__version__", "allocate", "build_report", "credible_interval",
    "expected_need", "fit_area", "generate_area", "generate_persons", "load_fit",
    "load_priors", "load_run_config", "need_and_allocation", "sensitivity", "write_run",
]


def __getattr__(name: str) -> Any:
    """Import a public name on first use (PEP 562)."""
    if name not in _EXPORTS:
        raise AttributeError(f"module 'bayes_needs' has no attribute {name!r}")
    module = _EXPORTS[name]
    value = (importlib.import_module(_MODULES[name]) if not module
             else getattr(importlib.import_module(module), name))
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """List the public names alongside the module's own attributes."""
    return sorted({*globals(), *__all__})
