"""Scenario files: a base run plus named variations, for sensitivity testing.

A scenario file (TOML or YAML, read safely) looks like::

    schema_version = 1
    description = "How far do shares move under defensible alternative choices?"

    [base]                         # the base run
    config = "england_area.toml"   # optional run config, relative to this file
    [base.data]                    # optional inline sections, as in a run config
    source = "synthetic"
    scale = "region"

    [variations.poisson]           # one table per variation
    description = "no LSOA-level overdispersion"
    [variations.poisson.model]
    family = "poisson"

    [variations.tight_sigma_la.priors.sigma_la]
    dist = "HalfNormal"
    kwargs = { sigma = 0.2 }
    dims = ["service"]

A variation holds ``description`` and any of the run-config sections ``data``, ``model``,
``priors``, ``sampling``, ``need`` and ``allocation``. Sections are merged into the base
key by key (a variation's ``[variations.X.model] family = "poisson"`` keeps the base's other
model options); ``priors`` are merged by variable name, so a variation can change one prior
and keep the rest. So a variation can change any prior, the likelihood family
(``model.family``), the random-effect levels (``model.la_effects``, ``model.msoa_effects``;
``family = "poisson"`` drops the LSOA-level effects), the covariates (``data.covariates``),
the cost-weight source (``allocation.cost_weights``, ``cost_weights_file``, ``unit_costs``,
``unit_cost_uncertainty``), the standardisation (``need.standardise``), damping
(``allocation.baseline``, ``damping_floor``, ``damping_cap``) and the data year
(``data.year``; for synthetic data ``data.data_seed`` gives another draw of the data).

Relative paths are resolved against the scenario file. Seeds come from the merged config
(``sampling.random_seed``, ``need.random_seed``, ``data.data_seed``), so by default every
scenario uses the base's seeds and a scenario's results depend only on its config: they are
the same wherever it runs. The whole file is validated before anything runs, and every
problem is reported at once, naming the variation and key.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bayes_needs.config.files import read_config_file, schema_version_problem
from bayes_needs.config.models import AreaModelConfig
from bayes_needs.config.run import (
    RunConfig,
    load_run_config,
    parse_run_config,
    resolve_paths,
)
from bayes_needs.core.errors import (
    BayesNeedsError,
    ConfigFileError,
    DataValidationError,
    PriorConfigError,
)

SCHEMA_VERSION = 1
BASE = "base"
#: Run-config sections a variation may change.
SECTIONS: tuple[str, ...] = ("data", "model", "priors", "sampling", "need", "allocation")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_TOP_KEYS = {"schema_version", "description", "base", "variations"}
#: Allocation keys naming where cost weights come from (at most one may be set).
COST_WEIGHT_SOURCES: tuple[str, ...] = ("cost_weights", "cost_weights_file", "unit_costs")


@dataclass(frozen=True)
class Scenario:
    """One run of a scenario set.

    Attributes
    ----------
    name
        ``"base"`` or the variation's name.
    config
        The full, validated run config (base merged with the variation).
    description
        What the variation changes.
    changes
        The variation's own sections as given in the file, with relative paths resolved
        (empty for the base).
    """

    name: str
    config: RunConfig
    description: str = ""
    changes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ScenarioSet:
    """A base scenario and its variations, in file order."""

    base: Scenario
    variations: tuple[Scenario, ...]
    description: str = ""
    source: str = "scenarios"

    @property
    def scenarios(self) -> tuple[Scenario, ...]:
        """Base first, then the variations."""
        return (self.base, *self.variations)

    @property
    def names(self) -> list[str]:
        """Scenario names, base first."""
        return [s.name for s in self.scenarios]

    def __len__(self) -> int:
        """Return the number of scenarios, base included."""
        return 1 + len(self.variations)

    def with_base_overrides(self, **sections: dict[str, Any]) -> ScenarioSet:
        """Return a copy with keys of the base's sections replaced (``None`` values ignored).

        Every variation is re-merged onto the new base (its own settings still win). Used
        for command-line data locations, e.g. ``data={"data_dir": ..., "year": ...}``.

        Parameters
        ----------
        **sections
            Section name -> keys to replace.
        """
        base_config = self.base.config.with_overrides(**sections)
        variations, problems = [], []
        for v in self.variations:
            config, found = _variation_config(base_config, v.changes, f"variations.{v.name}")
            problems += found
            if config is not None:
                variations.append(Scenario(v.name, config, v.description, v.changes))
        if problems:
            raise ConfigFileError(self.source, problems)
        base = Scenario(self.base.name, base_config, self.base.description)
        return ScenarioSet(base, tuple(variations), self.description, self.source)

    def select(self, names: list[str]) -> ScenarioSet:
        """Return a copy with only the named variations (the base is always kept).

        Parameters
        ----------
        names
            Variation names to keep.
        """
        unknown = sorted(set(names) - set(self.names))
        if unknown:
            raise ConfigFileError(self.source, [f"unknown scenario(s) {unknown}; the file has "
                                                f"{self.names}"])
        return ScenarioSet(self.base, tuple(v for v in self.variations if v.name in names),
                           self.description, self.source)


def load_scenarios(path: str | Path) -> ScenarioSet:
    """Read and validate a scenario file (see the module docstring).

    Raises
    ------
    ConfigFileError
        Listing every problem in the file, each naming the variation and key.
    """
    path = Path(path)
    values = read_config_file(path, what="scenario file")
    return parse_scenarios(values, source=str(path), root=path.parent)


def parse_scenarios(values: Mapping[str, Any], *, source: str = "scenarios",
                    root: str | Path | None = None) -> ScenarioSet:
    """Validate a scenario mapping and build every scenario's run config.

    Parameters
    ----------
    values
        The file's contents.
    source
        Label for error messages (the file path).
    root
        Directory relative paths are resolved against (default: the working directory).
    """
    root = Path(root) if root is not None else Path.cwd()
    problems: list[str] = []
    if not isinstance(values, Mapping):
        raise ConfigFileError(source, ["top level must be a mapping"])
    version_problem = schema_version_problem(values, SCHEMA_VERSION)
    if version_problem:
        problems.append(version_problem)
    unknown = sorted(set(values) - _TOP_KEYS)
    if unknown:
        problems.append(f"unknown top-level key(s) {unknown}; allowed: {sorted(_TOP_KEYS)}")
    description = values.get("description", "")
    if not isinstance(description, str):
        problems.append("description: must be text")
        description = ""

    base_config, base_problems = _base_config(values.get(BASE, {}), root)
    problems += base_problems

    variations = values.get("variations", {})
    if not isinstance(variations, Mapping):
        problems.append("variations: must be a table of [variations.NAME] tables")
        variations = {}
    if not variations:
        problems.append("variations: no variations given; add [variations.NAME] tables")
    built: list[Scenario] = []
    for name, table in variations.items():
        where = f"variations.{name}"
        if not isinstance(name, str) or not _NAME_RE.match(name) or name == BASE:
            problems.append(f"{where}: invalid name {name!r}: use letters, digits, '_', '-' or "
                            f"'.' (not 'base'), at most 64 characters")
            continue
        if not isinstance(table, Mapping):
            problems.append(f"{where}: must be a table")
            continue
        unknown = sorted(set(table) - {*SECTIONS, "description"})
        if unknown:
            problems.append(f"{where}: unknown key(s) {unknown}; a variation may set "
                            f"'description' and the sections {list(SECTIONS)}")
        text = table.get("description", "")
        if not isinstance(text, str):
            problems.append(f"{where}.description: must be text")
            text = ""
        changes = {k: v for k, v in table.items() if k in SECTIONS}
        if not changes:
            problems.append(f"{where}: changes nothing; set at least one of {list(SECTIONS)}")
            continue
        if base_config is None:
            continue  # the base is invalid; its problems are already listed
        changes = resolve_paths(changes, root)
        config, found = _variation_config(base_config, changes, where)
        problems += found
        if config is not None:
            built.append(Scenario(name, config, text, changes))
    if problems or base_config is None:  # an invalid base always lists its problems
        raise ConfigFileError(source, problems)
    base = Scenario(BASE, base_config, "base run")
    return ScenarioSet(base, tuple(built), description, source)


def _base_config(table: Any, root: Path) -> tuple[RunConfig | None, list[str]]:
    if not isinstance(table, Mapping):
        return None, [f"{BASE}: must be a table (a run config, optionally with config = FILE)"]
    table = dict(table)
    config_file = table.pop("config", None)
    problems: list[str] = []
    start: dict[str, Any] = {}
    if config_file is not None:
        if not isinstance(config_file, str):
            return None, [f"{BASE}.config: must be a file path"]
        path = Path(config_file) if Path(config_file).is_absolute() else root / config_file
        try:
            start = load_run_config(path).model_dump()
        except DataValidationError as exc:
            return None, [f"{BASE}.config ({exc.source}): {p}" for p in exc.problems]
        except BayesNeedsError as exc:
            return None, [f"{BASE}.config: {exc}"]
    merged, found = _merge(start, resolve_paths(table, root), BASE)
    problems += found
    if problems:
        return None, problems
    config, found = _validate(merged, BASE)
    return config, found


def _variation_config(base: RunConfig, changes: dict[str, Any], where: str
                      ) -> tuple[RunConfig | None, list[str]]:
    merged, problems = _merge(base.model_dump(), changes, where)
    if problems:
        return None, problems
    return _validate(merged, where)


def _merge(start: dict[str, Any], changes: Mapping[str, Any], where: str
           ) -> tuple[dict[str, Any], list[str]]:
    """Merge ``changes`` into a run-config mapping section by section."""
    merged = dict(start)
    problems: list[str] = []
    for section, value in changes.items():
        if section == "priors":
            priors, found = _merge_priors(merged.get("priors"), value, f"{where}.priors")
            problems += found
            merged["priors"] = priors
        elif isinstance(value, Mapping) and isinstance(merged.get(section, {}), Mapping):
            current = dict(merged.get(section) or {})
            if section == "allocation" and set(value) & set(COST_WEIGHT_SOURCES):
                # Choosing a cost-weight source replaces the base's, whichever it was.
                current.update({k: None for k in COST_WEIGHT_SOURCES})
                current["unit_cost_uncertainty"] = False
            merged[section] = {**current, **value}
        else:
            merged[section] = value
    return merged, problems


def _merge_priors(base: Any, change: Any, where: str) -> tuple[Any, list[str]]:
    """Variation priors merged into the base's by variable name."""
    if isinstance(change, str):
        return change, []  # a prior file replaces the base's overrides
    if not isinstance(change, Mapping):
        return base, [f"{where}: must be a prior file path or a table of variable name -> "
                      f"prior"]
    if "priors" in change and isinstance(change["priors"], Mapping):
        change = change["priors"]  # a whole prior config given inline
    start: dict[str, Any] = {}
    if isinstance(base, str):
        try:
            start = dict(read_config_file(base, error=PriorConfigError,
                                          what="prior file").get("priors", {}))
        except DataValidationError as exc:
            return base, [f"{where}: base prior file: {p}" for p in exc.problems]
    elif isinstance(base, Mapping):
        start = dict(base)
    return {**start, **change}, []


def _validate(values: dict[str, Any], where: str) -> tuple[RunConfig | None, list[str]]:
    try:
        config = parse_run_config(values, source=where)
    except ConfigFileError as exc:
        return None, [f"{where}.{p}" for p in exc.problems]
    try:
        AreaModelConfig.from_dict(config.model)
    except BayesNeedsError as exc:
        return None, [f"{where}.model: {exc}"]
    except TypeError as exc:
        return None, [f"{where}.model: {exc}"]
    return config, []
