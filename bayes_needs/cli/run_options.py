"""Options shared by ``demo``, ``fit`` and ``allocate``, and their mapping onto a RunConfig.

Each option sets one run-config field (:data:`OPTION_FIELDS`). The options are only parsed
here (a number is a number); :func:`configure` applies every option given to the run config
in one step, and the run config validates the result (:mod:`bayes_needs.config.run`), so a
setting has one default and one check. A value the config refuses is reported with the
option that gave it.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, get_args

from pydantic import BaseModel

from bayes_needs.cli.common import existing_file, number, whole_number
from bayes_needs.config.run import AllocationSpec, NeedSpec, RunConfig, SamplingSpec
from bayes_needs.core import defaults
from bayes_needs.core.errors import ConfigFileError
from bayes_needs.core.progress import sampler_bar_wanted

#: Command-line option (argparse ``dest``) -> the (section, field) of the run config it sets.
OPTION_FIELDS: dict[str, tuple[str, str]] = {
    "method": ("sampling", "method"),
    "seed": ("sampling", "random_seed"),
    "sampler": ("sampling", "sampler"),
    "draws": ("sampling", "draws"),
    "tune": ("sampling", "tune"),
    "chains": ("sampling", "chains"),
    "target_accept": ("sampling", "target_accept"),
    "standardise": ("need", "standardise"),
    "horizon": ("need", "horizon"),
    "interval_prob": ("allocation", "interval_prob"),
    "interval_kind": ("allocation", "interval_kind"),
    "pot": ("allocation", "pot"),
    "currency": ("allocation", "currency"),
}


def _choices(spec: type[BaseModel], field: str) -> str:
    """``{a,b,c}``: the values a run-config field accepts, for an option's metavar."""
    return "{" + ",".join(get_args(spec.model_fields[field].annotation)) + "}"


def add_sampling_options(parser: argparse.ArgumentParser) -> None:
    """Add --method, --seed, --sampler, --draws, --tune, --chains, --target-accept and so on.

    Also --priors and --no-progress.

    Parameters
    ----------
    parser
        The sub-command's parser.
    """
    group = parser.add_argument_group("sampling")
    group.add_argument("--method", default=None, metavar=_choices(SamplingSpec, "method"),
                       help=f"nuts samples the posterior; laplace approximates it in a "
                            f"fraction of the time, gated on its Pareto k-hat <= "
                            f"{defaults.PARETO_K_THRESHOLD} (default: the run config's, else "
                            f"{defaults.SAMPLING_METHOD})")
    group.add_argument("--seed", type=whole_number, default=None,
                       help=f"random seed for sampling (default: the run config's, else "
                            f"{defaults.RANDOM_SEED})")
    group.add_argument("--sampler", default=None, metavar=_choices(SamplingSpec, "sampler"),
                       help=f"NUTS implementation (default: the run config's, else "
                            f"{defaults.SAMPLER}; numpyro needs bayes-needs[fast])")
    group.add_argument("--draws", type=whole_number, default=None, help="draws per chain")
    group.add_argument("--tune", type=whole_number, default=None,
                       help="tuning steps per chain")
    group.add_argument("--chains", type=whole_number, default=None, help="number of chains")
    group.add_argument("--target-accept", type=number, default=None,
                       help=f"NUTS target acceptance rate (default: the run config's, else "
                            f"{defaults.TARGET_ACCEPT})")
    group.add_argument("--priors", type=existing_file, default=None,
                       help="prior file overriding default priors by variable name")
    group.add_argument("--no-progress", action="store_true",
                       help="hide the sampler's progress bar (shown on a terminal only)")


def add_allocation_options(parser: argparse.ArgumentParser) -> None:
    """Add --interval-prob, --interval-kind, --pot, --currency, --standardise.

    Parameters
    ----------
    parser
        The sub-command's parser.
    """
    group = parser.add_argument_group("allocation")
    group.add_argument("--interval-prob", type=number, default=None,
                       help=f"credible interval probability (default: the run config's, "
                            f"else {defaults.INTERVAL_PROB})")
    group.add_argument("--interval-kind", default=None,
                       metavar=_choices(AllocationSpec, "interval_kind"),
                       help=f"equal-tailed (eti) or highest-density (hdi) intervals (default: "
                            f"the run config's, else {defaults.INTERVAL_KIND})")
    group.add_argument("--pot", type=number, default=None,
                       help=f"national pot to share out (default: the run config's, else "
                            f"{defaults.POT:g})")
    group.add_argument("--currency", default=None, metavar="CODE",
                       help=f"ISO 4217 code of the pot's currency, the units of every money "
                            f"column (default: the run config's, else {defaults.CURRENCY})")
    group.add_argument("--standardise", default=None,
                       metavar=_choices(NeedSpec, "standardise"),
                       help="marginalise LA effects (la, default), keep them (none), or "
                            "marginalise small-area effects too (all); panel model: remove "
                            "a prior-drawn share of the LA effect (policy_share)")
    group.add_argument("--horizon", type=whole_number, default=None,
                       help=f"panel model: forecast the H years after --year and allocate "
                            f"for the last (default: the run config's, else "
                            f"{defaults.FORECAST_HORIZON})")


def add_cost_weight_option(parser: argparse.ArgumentParser) -> None:
    """Add --cost-weights: cost-weight draws from 'bayes-needs costs' instead of fixed weights.

    Parameters
    ----------
    parser
        The sub-command's parser.
    """
    parser.add_argument("--cost-weights", type=existing_file, default=None, metavar="NC",
                        help="cost_weights.nc written by 'bayes-needs costs': allocate with "
                             "uncertain weights (paired draw by draw with demand) and write "
                             "decomposition.csv")


def configure(config: RunConfig, args: argparse.Namespace,
              data: dict[str, Any] | None = None) -> RunConfig:
    """Return ``config`` with every option given on the command line applied.

    The options are applied in one step and the result is validated once, by the run config
    (:meth:`RunConfig.with_overrides`); ``config`` itself is not changed.

    Parameters
    ----------
    config
        The run config the options override (a file's, a stored run's, or the defaults).
    args
        Parsed arguments; options not given (``None``) leave the config's value.
    data
        Overrides of the ``data`` section (``None`` values are ignored).

    Returns
    -------
    RunConfig
        The validated config the command runs with.

    Raises
    ------
    ConfigFileError
        If the config refuses a value; a problem caused by an option names it and its value.
    """
    sections: dict[str, dict[str, Any]] = {"data": dict(data or {}), "sampling": {},
                                           "need": {}, "allocation": {}}
    for option, (section, field) in OPTION_FIELDS.items():
        sections[section][field] = getattr(args, option, None)
    # The CLI shows the sampler's bar on a terminal unless --no-progress or --quiet.
    sections["sampling"]["progressbar"] = sampler_bar_wanted(
        not getattr(args, "no_progress", False))
    priors = getattr(args, "priors", None)
    if priors is not None:
        config = config.model_copy(update={"priors": str(Path(priors).resolve())})
    try:
        return config.with_overrides(**sections)
    except ConfigFileError as exc:
        fields = {**OPTION_FIELDS, **{key: ("data", key) for key in sections["data"]}}
        raise ConfigFileError(exc.source, [_name_option(p, args, fields)
                                           for p in exc.problems]) from None


def _name_option(problem: str, args: argparse.Namespace,
                 fields: dict[str, tuple[str, str]]) -> str:
    """Prefix a config problem caused by an option with that option and its value."""
    for option, (section, field) in fields.items():
        value = getattr(args, option, None)
        if value is not None and problem.startswith(f"{section}.{field}:"):
            return f"--{option.replace('_', '-')} {value}: {problem}"
    return problem
