"""Synthetic spend with known unit costs, for checking the cost-weight model.

:func:`generate_spend` mimics the England data: four RO3-like lines (safeguarding, fostering,
residential, other CLA) generated from DfE-like volumes (referrals, CIN and CPP case-years,
weeks in care) with the England design of :mod:`bayes_needs.data.readers.costs`, latent LA
placement mixes, an LA price factor and lognormal (optionally Student-t) line noise. The true
unit costs are drawn from the unit-cost priors (so the priors are calibrated, as in
simulation-based calibration) unless given.

:func:`area_cost_design` gives the design and unit-cost priors for the simpler spend that
:func:`bayes_needs.simulate.area.generate_area` produces (two lines, no placement mix).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from bayes_needs.core import dims
from bayes_needs.core.errors import ConfigError
from bayes_needs.data.cost_design import THOUSAND, CostDesign
from bayes_needs.data.readers.costs import WEEKS_PER_YEAR, england_cost_design
from bayes_needs.data.spend import SpendData
from bayes_needs.data.unit_costs import UnitCostPriors, load_unit_costs, unit_costs_from_table
from bayes_needs.simulate.area import SyntheticArea

#: Mean per-child rates (England 2024-25 orders of magnitude) of the synthetic volumes.
_RATES = {"referrals": 0.052, "cin_case_years": 0.033, "cpp_case_years": 0.0042,
          "cla_weeks": 0.0070 * WEEKS_PER_YEAR}
#: Loading of each volume on the shared deprivation factor, and its own log sd.
_LOADING = {"referrals": 0.25, "cin_case_years": 0.3, "cpp_case_years": 0.35, "cla_weeks": 0.4}
_OWN_SD = {"referrals": 0.25, "cin_case_years": 0.2, "cpp_case_years": 0.3, "cla_weeks": 0.2}


@dataclass(frozen=True)
class SyntheticSpend:
    """Synthetic spend data with the truth behind it.

    Attributes
    ----------
    spend
        :class:`SpendData` (spend in thousand pounds, with an ``la_name`` column).
    design, unit_costs
        The design and unit-cost priors to fit with.
    unit_cost
        True unit cost per activity (pounds).
    price_factor
        True LA price factor per LA code.
    mix
        True placement mix, LA x placement.
    """

    spend: SpendData
    design: CostDesign
    unit_costs: UnitCostPriors
    unit_cost: pd.Series
    price_factor: pd.Series
    mix: pd.DataFrame

    @property
    def weight(self) -> pd.Series:
        """True relative weights (reference activity = 1)."""
        return self.unit_cost / self.unit_cost[self.unit_costs.reference]


def generate_spend(n_la: int = 150, *, random_seed: int,
                   unit_cost: Mapping[str, float] | None = None,
                   unit_costs: UnitCostPriors | None = None,
                   price_sd: float = 0.1, line_sd: float = 0.15, line_nu: float | None = None,
                   mix_sd: float = 0.25) -> SyntheticSpend:
    """Generate England-like spend lines from known unit costs.

    Parameters
    ----------
    n_la
        Number of LAs (>= 5).
    random_seed
        Seed of every draw.
    unit_cost
        True unit costs by activity (pounds); default: one draw from the unit-cost priors.
    unit_costs
        Unit-cost priors (default: the packaged ``priors/unit_costs.toml``).
    price_sd, line_sd, mix_sd
        Sds of the log LA price factor, the log line noise and the placement logits.
    line_nu
        Student-t degrees of freedom of the line noise; ``None`` for normal noise.
    """
    if isinstance(n_la, bool) or not isinstance(n_la, int) or n_la < 5:
        raise ConfigError(f"n_la must be a whole number >= 5, got {n_la!r}")
    rng = np.random.default_rng(random_seed)
    priors = unit_costs or load_unit_costs()
    design = england_cost_design()
    table = priors.unit_costs.table.set_index("activity")
    if unit_cost is None:
        truth = table["unit_cost"] * np.exp(table["sd_log"] * rng.standard_normal(len(table)))
    else:
        truth = pd.Series(dict(unit_cost), dtype=float).reindex(table.index)
        if truth.isna().any() or (truth <= 0).any():
            raise ConfigError(f"unit_cost must give a positive cost for every activity "
                              f"{list(table.index)}")
    codes = np.array([f"S{i:08d}" for i in range(n_la)], dtype=object)
    children = np.exp(rng.normal(np.log(70_000), 0.6, n_la))
    deprivation = rng.standard_normal(n_la)
    volumes = {name: children * rate * np.exp(_LOADING[name] * deprivation
                                              + _OWN_SD[name] * rng.standard_normal(n_la))
               for name, rate in _RATES.items()}
    places = list(design.placements)
    logits = np.log(list(design.placements.values())) + mix_sd * rng.standard_normal(
        (n_la, len(places)))
    mix = np.exp(logits - logits.max(axis=1, keepdims=True))
    mix /= mix.sum(axis=1, keepdims=True)
    price = np.exp(price_sd * rng.standard_normal(n_la))
    rows = []
    for category, activities in design.categories.items():
        expected = np.zeros(n_la)
        for act in activities:
            share = (mix[:, places.index(design.activity_placement[act])]
                     if act in design.activity_placement else 1.0)
            expected += truth[act] * volumes[design.volumes[act]] * share / THOUSAND
        noise = (rng.standard_normal(n_la) if line_nu is None
                 else rng.standard_t(line_nu, n_la))
        value = price * expected * np.exp(line_sd * noise)
        rows += [(c, c, category, v) for c, v in zip(codes, value, strict=True)]
    spend = pd.DataFrame(rows, columns=["la_code", "la_name", "category", "spend"])
    long = pd.DataFrame([(c, name, float(v[i])) for name, v in volumes.items()
                         for i, c in enumerate(codes)], columns=["la_code", "activity", "volume"])
    data = SpendData.from_frames(spend, long, year="synthetic",
                                 source=f"synthetic spend (seed {random_seed})")
    return SyntheticSpend(data, design, priors, truth.rename("unit_cost"),
                          pd.Series(price, index=codes, name="price_factor"),
                          pd.DataFrame(mix, index=codes, columns=places))


def with_outlier(synthetic: SyntheticSpend, la_code: str, category: str,
                 factor: float = 10.0) -> SpendData:
    """Return the synthetic spend with one LA's spend on one line multiplied by ``factor``."""
    spend = synthetic.spend.spend.copy()
    hit = (spend["la_code"] == la_code) & (spend["category"] == category)
    if hit.sum() != 1:
        raise ConfigError(f"no single spend row for LA {la_code!r} and category {category!r}")
    spend.loc[hit, "spend"] *= factor
    return SpendData(spend, synthetic.spend.volumes, synthetic.spend.year,
                     f"{synthetic.spend.source} with {la_code} {category} x{factor:g}")


def area_cost_design(synthetic: SyntheticArea, *, sd_log: float = 0.3,
                     reference: str = dims.CLA_WEEKS) -> tuple[CostDesign, UnitCostPriors]:
    """Design and unit-cost priors for ``generate_area(...).spend`` (identity service map).

    Services with zero true unit cost (``cla``, whose cost is carried by ``cla_weeks``) are
    not activities; they map to weight 0.
    """
    unit_costs = unit_costs_from_table(synthetic.unit_costs(sd_log), reference,
                                       source="synthetic unit costs")
    truth = synthetic.truth
    category = dict(zip(truth[dims.SERVICE].values.astype(str),
                        truth["spend_category"].values.astype(str), strict=True))
    activities = unit_costs.activities
    categories: dict[str, list[str]] = {}
    for act in activities:
        categories.setdefault(category[act], []).append(act)
    service_map = {s: ({s: 1.0} if s in activities else {}) for s in category}
    design = CostDesign(categories={c: tuple(a) for c, a in categories.items()},
                        volumes={a: a for a in activities}, service_map=service_map,
                        description="synthetic generate_area spend (identity design)")
    return design, unit_costs
