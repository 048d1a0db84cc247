"""Unit-cost prior tables (``priors/unit_costs.toml``): read, validate, build :class:`UnitCosts`.

A table has ``schema_version = 1``, a ``[meta]`` table (``reference``: the activity whose weight
is 1; ``price_base``: the price year every entry is uprated to; optional ``description``,
``currency``, ``uprating``) and one ``[activities.<name>]`` table per activity with:

``central``
    Unit cost in the source's prices, > 0.
``source_price_base``
    The source's price year, ``"YYYY-YY"`` (e.g. ``"2016-17"``).
``uprating``
    Factor taking ``central`` to the table's price base, > 0.
``sd_log``
    Sd of log(unit cost), 0 < ``sd_log`` <= 3 (a lognormal prior).
``source``
    Citation of the public source (non-empty text).
``label``, ``unit``
    Optional descriptions.

The prior median in the table's price base is ``central * uprating``. The file is read with the
safe configuration reader and every problem is reported at once, each naming the entry and key.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from bayes_needs.config.files import read_config_file, schema_version_problem
from bayes_needs.config.priors import default_priors_path
from bayes_needs.core.errors import PriorConfigError
from bayes_needs.data.spend import UnitCosts

SCHEMA_VERSION = 1
MAX_SD_LOG = 3.0
_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_YEAR_RE = re.compile(r"^\d{4}-\d{2}$")
_REQUIRED = ("central", "source_price_base", "uprating", "sd_log", "source")
_OPTIONAL = ("label", "unit")
_META_REQUIRED = ("reference", "price_base")
_META_OPTIONAL = ("description", "currency", "uprating")


@dataclass(frozen=True)
class UnitCostPriors:
    """A validated unit-cost prior table.

    Attributes
    ----------
    unit_costs
        :class:`~bayes_needs.data.spend.UnitCosts` with columns ``activity, unit_cost``
        (prior median in ``price_base`` prices), ``sd_log``, ``price_base`` and the
        descriptive columns ``label, unit, central, source_price_base, uprating, source``.
    reference
        Activity whose relative weight is 1.
    price_base
        Price year of ``unit_cost``.
    source
        Where the table came from (file path or label).
    """

    unit_costs: UnitCosts
    reference: str
    price_base: str
    source: str

    @property
    def activities(self) -> tuple[str, ...]:
        """Activity names in table order."""
        return self.unit_costs.activities

    def to_config(self) -> dict[str, Any]:
        """Plain JSON-able form (stored with fits; :func:`parse_unit_costs` reads it back)."""
        table = self.unit_costs.table
        activities = {}
        for row in table.to_dict("records"):
            entry = {k: row[k] for k in (*_REQUIRED, *_OPTIONAL) if k in row and
                     not (isinstance(row[k], float) and math.isnan(row[k]))}
            activities[row["activity"]] = entry
        return {"schema_version": SCHEMA_VERSION,
                "meta": {"reference": self.reference, "price_base": self.price_base},
                "activities": activities}


def _number(value: Any, where: str, problems: list[str], *, upper: float | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        problems.append(f"{where}: must be a number, got {value!r}")
    elif not math.isfinite(value) or value <= 0:
        problems.append(f"{where}: must be a finite number > 0, got {value!r}")
    elif upper is not None and value > upper:
        problems.append(f"{where}: must be <= {upper:g} (a lognormal sd of log cost), got "
                        f"{value!r}")


def _text(value: Any, where: str, problems: list[str]) -> None:
    if not isinstance(value, str) or not value.strip():
        problems.append(f"{where}: must be non-empty text, got {value!r}")


def _check_entry(name: Any, entry: Any, problems: list[str]) -> None:
    where = f"activities.{name}"
    if not isinstance(name, str) or not _NAME_RE.match(name):
        problems.append(f"{where}: activity name {name!r} must be a lower-case identifier "
                        f"such as 'cla_foster_week'")
    if not isinstance(entry, dict):
        problems.append(f"{where}: expected a table of keys {list(_REQUIRED)}, got "
                        f"{type(entry).__name__}")
        return
    unknown = sorted(set(entry) - set(_REQUIRED) - set(_OPTIONAL))
    if unknown:
        problems.append(f"{where}: unknown key(s) {unknown}; allowed: "
                        f"{sorted((*_REQUIRED, *_OPTIONAL))}")
    missing = [k for k in _REQUIRED if k not in entry]
    if missing:
        problems.append(f"{where}: missing key(s) {missing}")
    if "central" in entry:
        _number(entry["central"], f"{where}.central", problems)
    if "uprating" in entry:
        _number(entry["uprating"], f"{where}.uprating", problems)
    if "sd_log" in entry:
        _number(entry["sd_log"], f"{where}.sd_log", problems, upper=MAX_SD_LOG)
    if "source" in entry:
        _text(entry["source"], f"{where}.source", problems)
    year = entry.get("source_price_base")
    if "source_price_base" in entry and (not isinstance(year, str) or not _YEAR_RE.match(year)):
        problems.append(f"{where}.source_price_base: must be a financial year such as "
                        f"'2016-17', got {year!r}")
    for key in _OPTIONAL:
        if key in entry:
            _text(entry[key], f"{where}.{key}", problems)


def parse_unit_costs(config: Any, *, source: str = "unit costs") -> UnitCostPriors:
    """Validate a unit-cost config mapping (see the module docstring) and build the table.

    Raises
    ------
    PriorConfigError
        Listing every problem at once, each naming the entry and key.
    """
    if not isinstance(config, dict):
        raise PriorConfigError(source, [f"expected a mapping with 'schema_version', 'meta' and "
                                        f"'activities', got {type(config).__name__}"])
    problems: list[str] = []
    version_problem = schema_version_problem(config, SCHEMA_VERSION)
    if version_problem:
        problems.append(version_problem)
    unknown = sorted(set(config) - {"schema_version", "meta", "activities"})
    if unknown:
        problems.append(f"unknown top-level key(s) {unknown}; expected 'schema_version', "
                        f"'meta' and 'activities'")
    meta = config.get("meta", {})
    if not isinstance(meta, dict):
        problems.append("'meta' must be a table")
        meta = {}
    for key in _META_REQUIRED:
        if key not in meta:
            problems.append(f"meta: missing key '{key}'")
        else:
            _text(meta[key], f"meta.{key}", problems)
    extra = sorted(set(meta) - set(_META_REQUIRED) - set(_META_OPTIONAL))
    if extra:
        problems.append(f"meta: unknown key(s) {extra}; allowed: "
                        f"{sorted((*_META_REQUIRED, *_META_OPTIONAL))}")
    activities = config.get("activities")
    if not isinstance(activities, dict) or not activities:
        problems.append("'activities' must be a non-empty table of [activities.<name>] entries")
        activities = {}
    for name, entry in activities.items():
        _check_entry(name, entry, problems)
    reference = meta.get("reference")
    if isinstance(reference, str) and activities and reference not in activities:
        problems.append(f"meta.reference: '{reference}' is not an activity; activities: "
                        f"{list(activities)}")
    if problems:
        raise PriorConfigError(source, problems)
    rows = []
    for name, entry in activities.items():
        rows.append({"activity": name,
                     "unit_cost": float(entry["central"]) * float(entry["uprating"]),
                     "sd_log": float(entry["sd_log"]), "price_base": str(meta["price_base"]),
                     "label": entry.get("label", name), "unit": entry.get("unit", ""),
                     "central": float(entry["central"]),
                     "source_price_base": entry["source_price_base"],
                     "uprating": float(entry["uprating"]), "source": entry["source"]})
    table = UnitCosts.from_frame(pd.DataFrame(rows), source=source)
    return UnitCostPriors(table, str(reference), str(meta["price_base"]), source)


def load_unit_costs(path: str | Path | None = None) -> UnitCostPriors:
    """Read and validate a unit-cost file (TOML or YAML); the packaged default when ``None``."""
    path = default_priors_path("unit_costs") if path is None else Path(path)
    config = read_config_file(path, error=PriorConfigError, what="unit-cost file")
    return parse_unit_costs(config, source=str(path))


def unit_costs_from_table(unit_costs: UnitCosts, reference: str, *,
                          source: str | None = None) -> UnitCostPriors:
    """Wrap a :class:`UnitCosts` table (e.g. synthetic truth) with its reference activity."""
    if reference not in unit_costs.activities:
        raise PriorConfigError(source or unit_costs.source, [
            f"reference '{reference}' is not an activity; activities: "
            f"{list(unit_costs.activities)}"])
    table = unit_costs.table
    price_base = str(table["price_base"].iloc[0]) if "price_base" in table else "unknown"
    return UnitCostPriors(unit_costs, reference, price_base, source or unit_costs.source)
