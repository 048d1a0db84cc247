"""Design files of ``bayes-needs design``: candidate data collections to value before running.

A design file is TOML or YAML with a ``schema_version`` and one table per candidate design::

    schema_version = 1
    description = "LSOA returns of CLA and CPP from the largest LAs"

    [designs.largest_5]
    rule = "largest"          # or "random", "stratified", "widest"; or las = ["E09000001", ...]
    k = 5
    level = "lsoa"            # "lsoa" (default) or "msoa"
    services = ["cla", "cpp"] # default: every service of the run
    years = [2024]            # optional; only the run's own year is possible

Rules choose which LAs return: ``largest`` the ``k`` LAs with the most children,
``random`` ``k`` LAs drawn afresh for each replicate, ``stratified`` one LA drawn from each of
``k`` equal groups of LAs ranked by deprivation, ``widest`` the ``k`` LAs whose share
intervals are widest before the return. ``k = 0`` is the design that collects nothing.

Refits keep the run's model by default (``msoa_effects = false``): the reduction a design
predicts is then measured on one model before and after, and on synthetic England with known
truth it matches the reduction a return simulated from the truth gives (within 4%, see
``tests/workflows/test_design.py``), though the truth has MSOA variation the model leaves
out. A top-level ``msoa_effects = true`` gives a run without MSOA effects refits with them,
and simulates the returns with them: a return below LA level shows the MSOA variation that
LA totals hide. LA totals do not identify ``msoa_cv``, so each replicate draws it from its
prior and the answer follows that prior: on synthetic England (true ``msoa_cv`` 0.2, default
half-normal prior of scale 0.5) the predicted CLA gradient sd was 35-52% above the realised
one, and share intervals widened instead of narrowing, since the baseline has no MSOA
variance. Give ``msoa_cv`` a prior that says what is known before relying on that variant.

A person-linkage design (``linkage_coverage = 0.8``) is recognised but refused: valuing
child-level linkage needs the person model's refits, which this command does not make yet.

:func:`load_designs` reads a file through :func:`~bayes_needs.config.files.read_config_file`
and :func:`parse_designs` checks every design against the run, collecting every problem
(each naming the design and key) before raising one
:class:`~bayes_needs.core.errors.ConfigFileError`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from bayes_needs.config.files import read_config_file, schema_version_problem
from bayes_needs.core import dims
from bayes_needs.core.errors import ConfigFileError

SCHEMA_VERSION = 1
#: How a design chooses its returning LAs when it does not list them.
RULES = ("largest", "random", "stratified", "widest")
LEVELS = (dims.LSOA, dims.MSOA)
Rule = Literal["largest", "random", "stratified", "widest", "listed"]

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_TOP_KEYS = {"schema_version", "description", "designs", "msoa_effects"}
_DESIGN_KEYS = {"description", "las", "rule", "k", "level", "services", "years",
                "linkage_coverage"}


@dataclass(frozen=True)
class Design:
    """One candidate data collection.

    Attributes
    ----------
    name
        The design's table name.
    rule
        How the returning LAs are chosen (``"listed"``: by code).
    k
        How many LAs return.
    las
        The returning LAs' codes of a listed design (empty for a rule).
    level
        ``"lsoa"`` or ``"msoa"``.
    services
        Services returned, in the run's order.
    description
        Free text.
    """

    name: str
    rule: Rule
    k: int
    las: tuple[str, ...]
    level: str
    services: tuple[str, ...]
    description: str = ""


@dataclass(frozen=True)
class DesignSet:
    """The designs of one file, in file order."""

    designs: tuple[Design, ...]
    description: str
    source: str
    #: Whether refits with returns add MSOA effects to the run's model (module docstring).
    msoa_effects: bool = False

    @property
    def names(self) -> list[str]:
        """The designs' names."""
        return [d.name for d in self.designs]


def load_designs(path: str | Path, *, services: Sequence[str],
                 la_codes: Sequence[str] | None, year: int | str | None) -> DesignSet:
    """Read and check a design file against the run it will value.

    Parameters
    ----------
    path
        The TOML or YAML file.
    services, la_codes, year
        The run's services, LA codes and data year (``la_codes=None``: codes and ``k`` are
        not checked against the LAs, e.g. before the run's data are loaded).

    Returns
    -------
    DesignSet

    Raises
    ------
    ConfigFileError
        Listing every problem, each naming the design and key.
    """
    path = Path(path)
    values = read_config_file(path, what="design file")
    return parse_designs(values, services=services, la_codes=la_codes, year=year,
                         source=str(path))


def parse_designs(values: Mapping[str, Any], *, services: Sequence[str],
                  la_codes: Sequence[str] | None, year: int | str | None,
                  source: str = "designs") -> DesignSet:
    """Validate a design mapping (see the module docstring) against the run.

    Parameters
    ----------
    values
        The file's contents.
    services, la_codes, year
        As :func:`load_designs`.
    source
        The file, named in messages.

    Returns
    -------
    DesignSet

    Raises
    ------
    ConfigFileError
        Listing every problem at once.
    """
    if not isinstance(values, Mapping):
        raise ConfigFileError(source, ["top level must be a mapping"])
    problems: list[str] = []
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
    msoa_effects = values.get("msoa_effects", DesignSet.msoa_effects)
    if not isinstance(msoa_effects, bool):
        problems.append(f"msoa_effects: must be true or false, got {msoa_effects!r}")
    tables = values.get("designs", {})
    if not isinstance(tables, Mapping):
        problems.append("designs: must be a table of [designs.NAME] tables")
        tables = {}
    if not tables:
        problems.append("designs: no designs given; add [designs.NAME] tables")
    designs = []
    for name, table in tables.items():
        design, found = _design(name, table, services=services, la_codes=la_codes, year=year)
        problems += found
        if design is not None:
            designs.append(design)
    if problems:
        raise ConfigFileError(source, problems)
    return DesignSet(tuple(designs), description, source, bool(msoa_effects))


def _design(name: Any, table: Any, *, services: Sequence[str], la_codes: Sequence[str] | None,
            year: int | str | None) -> tuple[Design | None, list[str]]:
    """Check one ``[designs.NAME]`` table; return the design (or ``None``) and its problems."""
    where = f"designs.{name}"
    if not isinstance(name, str) or not _NAME_RE.match(name):
        return None, [f"{where}: invalid name {name!r}: use letters, digits, '_', '-' or '.', "
                      f"at most 64 characters"]
    if not isinstance(table, Mapping):
        return None, [f"{where}: must be a table"]
    problems = []
    unknown = sorted(set(table) - _DESIGN_KEYS)
    if unknown:
        problems.append(f"{where}: unknown key(s) {unknown}; allowed: {sorted(_DESIGN_KEYS)}")
    if "linkage_coverage" in table:
        problems.append(f"{where}.linkage_coverage: person-linkage designs are not supported "
                        f"yet (they need refits of the person model); give an area design "
                        f"(las or rule, level, services) instead")
    rule, k, las, found = _returning(table, where, la_codes)
    problems += found
    level = table.get("level", dims.LSOA)
    if level not in LEVELS:
        problems.append(f"{where}.level: must be one of {list(LEVELS)}, got {level!r}")
    chosen, found = _services(table.get("services", list(services)), where, services)
    problems += found
    problems += _years(table.get("years"), where, year)
    text = table.get("description", "")
    if not isinstance(text, str):
        problems.append(f"{where}.description: must be text")
    if problems:
        return None, problems
    return Design(name, rule, k, las, str(level), chosen, text), []


def _returning(table: Mapping[str, Any], where: str, la_codes: Sequence[str] | None
               ) -> tuple[Rule, int, tuple[str, ...], list[str]]:
    """Check ``las`` or ``rule`` and ``k``."""
    n_la = len(la_codes) if la_codes is not None else None
    has_las, has_rule = "las" in table, "rule" in table
    if has_las == has_rule:
        return "listed", 0, (), [f"{where}: give either las = [LA codes] or rule = one of "
                                 f"{list(RULES)} with k"]
    if has_las:
        las = table["las"]
        if "k" in table:
            return "listed", 0, (), [f"{where}.k: not used with las (k is the number listed)"]
        if not isinstance(las, list) or not all(isinstance(c, str) for c in las):
            return "listed", 0, (), [f"{where}.las: must be a list of LA codes"]
        problems = []
        unknown = [] if la_codes is None else [c for c in las if c not in set(la_codes)]
        if unknown:
            problems.append(f"{where}.las: unknown LA code(s) {unknown[:8]} (not LAs of the run)")
        repeated = sorted({c for c in las if las.count(c) > 1})
        if repeated:
            problems.append(f"{where}.las: LA code(s) listed twice: {repeated}")
        return "listed", len(las), tuple(las), problems
    rule, k = table["rule"], table.get("k")
    problems = []
    if rule not in RULES:
        problems.append(f"{where}.rule: must be one of {list(RULES)}, got {rule!r}")
    if k is None:
        problems.append(f"{where}.k: missing; how many LAs return under rule {rule!r}")
    elif isinstance(k, bool) or not isinstance(k, int) or k < 0 or \
            (n_la is not None and k > n_la):
        most = f"from 0 to {n_la} (the run's LAs)" if n_la is not None else ">= 0"
        problems.append(f"{where}.k: must be a whole number {most}, got {k!r}")
    if problems or not isinstance(k, int):
        return "listed", 0, (), problems
    return rule, k, (), []


def _services(value: Any, where: str, services: Sequence[str]
              ) -> tuple[tuple[str, ...], list[str]]:
    """Check ``services``: a non-empty list of the run's services, returned in its order."""
    if not isinstance(value, list) or not value or \
            not all(isinstance(s, str) for s in value):
        return (), [f"{where}.services: must be a non-empty list of services of the run "
                    f"{list(services)}"]
    unknown = [s for s in value if s not in services]
    if unknown:
        return (), [f"{where}.services: unknown service(s) {unknown}; the run has "
                    f"{list(services)}"]
    return tuple(s for s in services if s in value), []


def _years(value: Any, where: str, year: int | str | None) -> list[str]:
    """Check ``years``: only the run's single data year can be returned."""
    if value is None:
        return []
    if not isinstance(value, list) or not value:
        return [f"{where}.years: must be a list of years, e.g. [{year}]"]
    other = [y for y in value if str(y) != str(year)]
    if other:
        return [f"{where}.years: {other} not possible: the run is a single-year fit of {year}, "
                f"so a design can only return that year; value other years with a run of "
                f"that year"]
    return []
