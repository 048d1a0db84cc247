"""Cost weights: the unit-cost table and its validation, the model structure and likelihood
(recomputed here with scipy), dropped cells, fitting/persistence/influence with a mocked
sampler (prior draws stand in for MCMC), the England data join, and the ``costs`` and
``allocate --cost-weights`` commands end to end.
"""

from __future__ import annotations

import copy
import tomllib

import numpy as np
import pandas as pd
import pytensor.tensor as pt
import pytest
import xarray as xr
from sampling_mocks import patched_sample, write_concentrated_priors
from scipy import stats

from bayes_needs.allocation import decompose_interval_width
from bayes_needs.checks.influence import COLUMNS as INFLUENCE_COLUMNS
from bayes_needs.checks.influence import la_influence
from bayes_needs.cli import main
from bayes_needs.config.priors import default_priors_path
from bayes_needs.core import dims
from bayes_needs.core import idata as idata_io
from bayes_needs.core.errors import (
    BayesNeedsError,
    ConfigError,
    DataHashMismatchError,
    PriorConfigError,
)
from bayes_needs.data.cost_design import CostDesign
from bayes_needs.data.readers.costs import england_cost_design, england_spend_data
from bayes_needs.data.spend import SpendData
from bayes_needs.data.unit_costs import load_unit_costs, parse_unit_costs
from bayes_needs.models.cost_weights import CostWeightModel, service_weights
from bayes_needs.simulate.area import generate_area
from bayes_needs.simulate.costs import area_cost_design, generate_spend

ACTIVITIES = ("referral_assessment", "cin_case_year", "cpp_case_year", "cla_foster_week",
              "cla_residential_week", "cla_other_week")
WEIGHT_COLUMNS = ["activity", "weight_mean", "weight_lower", "weight_upper", "reference"]
#: The England design written out independently of bayes_needs.data.readers.costs: category ->
#: [(activity, volume, placement or None)].
ENGLAND = {
    "safeguarding": [("referral_assessment", "referrals", None),
                     ("cin_case_year", "cin_case_years", None),
                     ("cpp_case_year", "cpp_case_years", None)],
    "cla_fostering": [("cla_foster_week", "cla_weeks", "foster")],
    "cla_residential": [("cla_residential_week", "cla_weeks", "residential")],
    "cla_other": [("cla_other_week", "cla_weeks", None)],
}
MIX = {"foster": 0.68, "residential": 0.17, "other": 0.15}


@pytest.fixture(scope="module")
def synthetic():
    return generate_spend(12, random_seed=7)


@pytest.fixture(scope="module")
def mocked_fit(synthetic):
    model = CostWeightModel(synthetic.spend, synthetic.unit_costs, synthetic.design)
    with patched_sample():
        idata = model.fit(random_seed=3, draws=40, tune=1, chains=2, progressbar=False)
    return model, idata


def default_config() -> dict:
    with open(default_priors_path("unit_costs"), "rb") as fh:
        return tomllib.load(fh)


# ====================================================================== unit-cost table
def test_default_unit_costs_are_central_times_uprating():
    raw = default_config()
    priors = load_unit_costs()
    assert priors.reference == raw["meta"]["reference"] == "cla_foster_week"
    assert priors.activities == ACTIVITIES
    table = priors.unit_costs.table.set_index("activity")
    for name, entry in raw["activities"].items():
        assert table.at[name, "unit_cost"] == pytest.approx(entry["central"] * entry["uprating"])
        assert table.at[name, "sd_log"] == entry["sd_log"]
        assert entry["source"].strip()
    assert (table["price_base"] == "2024-25").all()
    again = parse_unit_costs(priors.to_config())
    pd.testing.assert_series_equal(again.unit_costs.table["unit_cost"],
                                   priors.unit_costs.table["unit_cost"])


def _mutate(change):
    config = copy.deepcopy(default_config())
    change(config)
    return config


def _set(path, value):
    def change(config):
        node = config
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    return change


BAD_UNIT_COSTS = {
    "negative_central": (_set(("activities", "cin_case_year", "central"), -5.0),
                         ["activities.cin_case_year.central", "> 0"]),
    "text_central": (_set(("activities", "cin_case_year", "central"), "lots"),
                     ["activities.cin_case_year.central", "must be a number"]),
    "sd_log_too_large": (_set(("activities", "cla_foster_week", "sd_log"), 7.0),
                         ["activities.cla_foster_week.sd_log", "<= 3"]),
    "zero_uprating": (_set(("activities", "cpp_case_year", "uprating"), 0),
                      ["activities.cpp_case_year.uprating"]),
    "bad_price_year": (_set(("activities", "cla_other_week", "source_price_base"), "2016"),
                       ["activities.cla_other_week.source_price_base", "2016-17"]),
    "missing_source": (lambda c: c["activities"]["referral_assessment"].pop("source"),
                       ["activities.referral_assessment", "missing key(s) ['source']"]),
    "unknown_key": (_set(("activities", "referral_assessment", "centrall"), 3.0),
                    ["activities.referral_assessment", "unknown key(s) ['centrall']"]),
    "bad_name": (_set(("activities", "CLA Week"), {"central": 1.0}),
                 ["activities.CLA Week", "lower-case identifier"]),
    "unknown_reference": (_set(("meta", "reference"), "cla_week"),
                          ["meta.reference", "'cla_week' is not an activity"]),
    "schema_version": (_set(("schema_version",), 2), ["schema_version 2"]),
    "no_activities": (_set(("activities",), {}), ["'activities' must be a non-empty table"]),
}


@pytest.mark.parametrize("case", sorted(BAD_UNIT_COSTS))
def test_unit_cost_validation_names_entry_and_key(case):
    change, fragments = BAD_UNIT_COSTS[case]
    with pytest.raises(PriorConfigError) as err:
        parse_unit_costs(_mutate(change), source="my_costs.toml")
    message = str(err.value)
    assert message.startswith("my_costs.toml")
    for fragment in fragments:
        assert fragment in message, (fragment, message)


def test_unit_cost_validation_reports_every_problem_at_once():
    def change(config):
        config["activities"]["cin_case_year"]["central"] = -1
        config["activities"]["cla_foster_week"]["sd_log"] = "wide"
        config["meta"].pop("price_base")
    with pytest.raises(PriorConfigError) as err:
        parse_unit_costs(_mutate(change))
    assert len(err.value.problems) == 3
    text = str(err.value)
    for fragment in ("cin_case_year.central", "cla_foster_week.sd_log", "price_base"):
        assert fragment in text


def test_unit_cost_file_errors_name_the_file(tmp_path):
    bad = tmp_path / "costs.toml"
    bad.write_text("schema_version = \n", encoding="utf-8")
    with pytest.raises(PriorConfigError, match=r"(?s)costs\.toml.*invalid TOML"):
        load_unit_costs(bad)
    with pytest.raises(PriorConfigError, match="does not exist"):
        load_unit_costs(tmp_path / "missing.toml")


# ====================================================================== model structure
def test_model_dims_and_finite_initial_logp(synthetic):
    model = CostWeightModel(synthetic.spend, synthetic.unit_costs, synthetic.design)
    pm_model = model.build_model()
    assert pm_model.named_vars_to_dims["weight"] == (dims.ACTIVITY,)
    assert pm_model.named_vars_to_dims["unit_cost"] == (dims.ACTIVITY,)
    assert pm_model.named_vars_to_dims["placement_mix"] == (dims.LA, dims.PLACEMENT)
    assert pm_model.named_vars_to_dims["log_spend"] == (dims.CELL,)
    assert pm_model.named_vars_to_dims["spend_sigma"] == (dims.CATEGORY,)
    assert list(pm_model.coords[dims.ACTIVITY]) == list(ACTIVITIES)
    assert list(pm_model.coords[dims.PLACEMENT]) == list(MIX)
    assert len(pm_model.coords[dims.LA]) == 12
    assert len(pm_model.coords[dims.CELL]) == 12 * 4
    logps = pm_model.point_logps()
    assert all(np.isfinite(v) for v in logps.values()), logps


def test_likelihood_matches_scipy_student_t(synthetic):
    model = CostWeightModel(synthetic.spend, synthetic.unit_costs, synthetic.design)
    pm_model = model.build_model()
    rng = np.random.default_rng(0)
    la_codes = list(model.la_codes)
    cost = {a: float(c) for a, c in synthetic.unit_cost.items()}
    raw = rng.standard_normal(len(la_codes))
    price_raw = dict(zip(la_codes, raw - raw.mean(), strict=True))  # zero-sum factors
    mix_raw = {c: rng.standard_normal(3) for c in la_codes}
    sigma = {"safeguarding": 0.1, "cla_fostering": 0.2, "cla_residential": 0.3,
             "cla_other": 0.4}
    price_sd, mix_sd, nu = 0.2, 0.3, 5.0
    point = {"log_unit_cost": np.log([cost[a] for a in ACTIVITIES]),
             "price_sd_log__": np.log(price_sd),
             "mix_sd_log__": np.log(mix_sd),
             "mix_raw": np.array([mix_raw[c] for c in la_codes]),
             "spend_sigma_log__": np.log([sigma[c] for c in model.categories]),
             "spend_nu_log__": np.log(nu)}
    raw_var = pm_model["price_raw"]
    point[pm_model.rvs_to_values[raw_var].name] = pm_model.rvs_to_transforms[raw_var].forward(
        pt.as_tensor(np.array([price_raw[c] for c in la_codes]))).eval()
    got = pm_model.compile_logp(vars=[pm_model["log_spend"]], jacobian=False)(point)

    volumes = synthetic.spend.volumes.pivot(index="la_code", columns="activity",
                                            values="volume")
    expected = 0.0
    for row in synthetic.spend.spend.itertuples(index=False):
        logits = np.log(list(MIX.values())) + mix_sd * mix_raw[row.la_code]
        share = dict(zip(MIX, np.exp(logits) / np.exp(logits).sum(), strict=True))
        mean = sum(cost[act] * volumes.at[row.la_code, vol] * (share[p] if p else 1.0)
                   for act, vol, p in ENGLAND[row.category]) / 1000.0
        loc = np.log(mean) + price_sd * price_raw[row.la_code]
        expected += stats.t.logpdf(np.log(row.spend), df=nu, loc=loc,
                                   scale=sigma[row.category])
    assert got == pytest.approx(expected, rel=1e-9)


def test_unusable_cells_are_dropped_and_named(synthetic):
    spend = synthetic.spend.spend.copy()
    volumes = synthetic.spend.volumes.copy()
    zero_la, no_volume_la = spend["la_code"].iloc[0], spend["la_code"].iloc[-1]
    spend.loc[(spend["la_code"] == zero_la) & (spend["category"] == "cla_fostering"),
              "spend"] = 0.0
    volumes = volumes[~((volumes["la_code"] == no_volume_la)
                        & (volumes["activity"] == "cla_weeks"))]
    extra = pd.DataFrame({"la_code": [zero_la], "la_name": [zero_la],
                          "category": ["youth_justice"], "spend": [5.0]})
    data = SpendData.from_frames(pd.concat([spend, extra], ignore_index=True), volumes)
    model = CostWeightModel(data, synthetic.unit_costs, synthetic.design)
    dropped = model.dropped.set_index(["la_code", "category"])["reason"]
    assert "spend is 0" in dropped[(zero_la, "cla_fostering")]
    for category in ("cla_fostering", "cla_residential", "cla_other"):
        assert "cla_weeks" in dropped[(no_volume_la, category)]
    assert len(dropped) == 4  # the unmapped youth_justice line is ignored, not dropped
    assert len(model.cells) == 12 * 4 - 4
    assert no_volume_la in model.la_codes  # its safeguarding line remains


def test_design_must_fit_the_unit_cost_table(synthetic):
    design = england_cost_design()
    categories = {k: v for k, v in design.categories.items() if k != "cla_other"}
    partial = CostDesign(categories, design.volumes, design.placements,
                         design.activity_placement)
    with pytest.raises(ConfigError, match="cla_other_week"):
        CostWeightModel(synthetic.spend, synthetic.unit_costs, partial)
    unknown = CostDesign({**design.categories, "extra": ("nursery_week",)}, design.volumes)
    with pytest.raises(ConfigError, match="nursery_week"):
        CostWeightModel(synthetic.spend, synthetic.unit_costs, unknown)


def test_generate_area_spend_builds_with_identity_design():
    area = generate_area("tiny", random_seed=4)
    design, unit_costs = area_cost_design(area)
    model = CostWeightModel(area.spend, unit_costs, design)
    assert "placement_mix" not in model.build_model().named_vars
    assert model.reference == "cla_weeks"
    assert set(model.categories) == {"safeguarding", "looked_after"}
    assert design.service_map["cla"] == {}


# ====================================================================== mocked fits
def test_fit_weights_are_ratios_to_the_reference(mocked_fit):
    model, idata = mocked_fit
    post = idata_io.posterior(idata)
    assert post["weight"].dims == (dims.CHAIN, dims.DRAW, dims.ACTIVITY)
    ratio = post["unit_cost"] / post["unit_cost"].sel({dims.ACTIVITY: "cla_foster_week"})
    np.testing.assert_allclose(post["weight"], ratio.transpose(*post["weight"].dims),
                               rtol=1e-10)
    assert (post["weight"].sel({dims.ACTIVITY: "cla_foster_week"}) == 1).all()
    assert idata_io.get_kind(idata) == "cost_weights"
    assert idata_io.get_data_hash(idata) == model.data_hash()


def test_la_log_likelihood_sums_each_las_cells(mocked_fit):
    model, idata = mocked_fit
    cell = idata_io.log_likelihood(idata)["log_spend"]
    per_la = model.la_log_likelihood(idata)
    for code in model.la_codes[:3]:
        rows = np.flatnonzero(model.cells["la_code"].to_numpy() == code)
        np.testing.assert_allclose(per_la.sel({dims.LA: code}),
                                   cell.isel({dims.CELL: rows}).sum(dims.CELL), rtol=1e-12)


def test_save_load_round_trip_and_hash_check(mocked_fit, synthetic, tmp_path):
    model, idata = mocked_fit
    path = model.save(idata, tmp_path / "cw.nc")
    again, loaded = CostWeightModel.load(path, synthetic.spend)
    xr.testing.assert_allclose(idata_io.posterior(loaded)["weight"],
                               idata_io.posterior(idata)["weight"])
    assert again.activities == model.activities and again.reference == model.reference
    assert again.placements == model.placements == tuple(MIX)
    changed = synthetic.spend.spend.copy()
    changed.loc[0, "spend"] *= 1.01
    with pytest.raises(DataHashMismatchError):
        CostWeightModel.load(path, SpendData(changed, synthetic.spend.volumes))
    with pytest.raises(BayesNeedsError, match="'cost_weights' result, expected 'area'"):
        idata_io.load(path, expected_kind="area")


def test_service_weights_follow_the_england_mapping(mocked_fit):
    _, idata = mocked_fit
    weights = service_weights(idata, ["referrals", "cla", "cla_weeks"])
    assert weights.dims == (dims.CHAIN, dims.DRAW, dims.SERVICE)
    w = idata_io.posterior(idata)["weight"]
    weekly = (MIX["foster"] * w.sel(activity="cla_foster_week")
              + MIX["residential"] * w.sel(activity="cla_residential_week")
              + w.sel(activity="cla_other_week"))
    np.testing.assert_allclose(weights.sel(service="cla"), 52 * weekly, rtol=1e-12)
    np.testing.assert_allclose(weights.sel(service="cla_weeks"), weekly, rtol=1e-12)
    np.testing.assert_allclose(weights.sel(service="referrals"),
                               w.sel(activity="referral_assessment"), rtol=1e-12)
    with pytest.raises(ConfigError, match="nursery"):
        service_weights(idata, ["nursery"])


def test_influence_rows_and_refit_cap(mocked_fit):
    model, idata = mocked_fit
    table = la_influence(model, idata, max_refits=1)
    assert list(table.columns) == INFLUENCE_COLUMNS
    assert list(table["la_code"]) == list(model.la_codes)
    high = table["pareto_k"] >= 0.7
    assert (table.loc[~high, "method"] == "psis").all()
    assert (table["method"] == "refit").sum() == min(1, int(high.sum()))
    if high.sum() > 1:
        assert (table["method"] == "psis_unreliable").sum() == int(high.sum()) - 1
        assert "cap was reached" in table.attrs["comment"]
    refitted = table.loc[table["method"] == "refit", "la_code"]
    if len(refitted):  # the refitted LA is the one with the largest k
        assert refitted.iloc[0] == table.loc[table["pareto_k"].idxmax(), "la_code"]
    assert (table["max_rel_change"] >= 0).all()
    assert set(table["activity_with_max_change"]) <= set(ACTIVITIES) - {"cla_foster_week"}
    per_activity = table.attrs["per_activity_max"]
    assert set(per_activity) == set(ACTIVITIES) - {"cla_foster_week"}
    worst = max(per_activity.values())
    assert worst[0] == pytest.approx(table["max_rel_change"].max())
    assert worst[1] == table.loc[table["max_rel_change"].idxmax(), "la_code"]
    with pytest.raises(ConfigError, match="max_refits"):
        la_influence(model, idata, max_refits=-1)


# ====================================================================== real data
@pytest.mark.realdata
def test_england_join_volumes_and_dropped_cells(data_dir):
    spend, report = england_spend_data(data_dir, "2024-25")
    panel = pd.read_csv(data_dir / "dfe_csc" / "la_csc_panel_2013_2025.csv")
    now = panel[panel["time_period"] == 2025].set_index("new_la_code")
    before = panel[panel["time_period"] == 2024].set_index("new_la_code")
    volumes = spend.volumes.pivot(index="la_code", columns="activity", values="volume")
    for code in ("E06000001", "E09000033", "E10000030"):
        assert volumes.at[code, "referrals"] == now.at[code, "referrals"]
        assert volumes.at[code, "cla_weeks"] == pytest.approx(
            52 * (now.at[code, "cla_at31"] + before.at[code, "cla_at31"]) / 2)
        assert volumes.at[code, "cin_case_years"] == pytest.approx(
            (now.at[code, "cin_at31"] + before.at[code, "cin_at31"]) / 2)
    assert volumes.at["E10000014", "cpp_case_years"] == now.at["E10000014", "cpp_at31"]
    assert "E10000014" in set(report.end_year_only["la_code"])
    dropped = report.dropped.set_index(["la_code", "category"])["reason"]
    assert "[x]" in dropped[("E08000025", "safeguarding")]  # Birmingham, not certified
    assert "negative" in dropped[("E08000028", "safeguarding")]
    cells = spend.spend.set_index(["la_code", "category"])["spend"]
    ro3 = pd.read_csv(data_dir / "dfe_csc" /
                      "ro3_childrens_social_care_expenditure_2023-24_2024-25_long.csv")
    ro3 = ro3[(ro3["financial_year"] == "2024-25") & (ro3["measure"] == "total_expenditure")
              & (ro3["ons_code"] == "E06000001")]
    lines = ro3.set_index(ro3["service"].str.lower())["value_gbp_thousands"]
    other = lines[lines.index.str.endswith("looked after of which other")].iloc[0] + \
        lines[lines.index.str.contains("asylum seeking children who are looked after")].iloc[0]
    assert cells[("E06000001", "cla_other")] == pytest.approx(other)
    assert set(spend.spend["category"]) == set(ENGLAND)


@pytest.mark.realdata
def test_costs_cli_on_real_data_writes_the_files(mocked_sampler, data_dir, tmp_path, capsys):
    out = tmp_path / "costs"
    code = main(["costs", "--data-dir", str(data_dir), "--year", "2024-25", "--out", str(out),
                 "--draws", "60", "--tune", "1", "--max-refits", "1", "--no-progress"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    for name in ("cost_weights.csv", "cost_weights.nc", "influence.csv", "dropped_cells.csv",
                 "cost_summary.txt"):
        assert (out / name).is_file(), name
    weights = pd.read_csv(out / "cost_weights.csv")
    assert list(weights.columns[:5]) == WEIGHT_COLUMNS
    assert tuple(weights["activity"]) == ACTIVITIES
    assert (weights["reference"] == "cla_foster_week").all()
    ref = weights.set_index("activity").loc["cla_foster_week"]
    assert ref["weight_mean"] == ref["weight_lower"] == ref["weight_upper"] == 1.0
    assert (weights["weight_lower"] <= weights["weight_upper"]).all()
    idata = idata_io.load(out / "cost_weights.nc", expected_kind="cost_weights")
    la_codes = idata_io.get_config(idata)["la_codes"]
    influence = pd.read_csv(out / "influence.csv")
    assert list(influence.columns) == INFLUENCE_COLUMNS
    assert list(influence["la_code"]) == la_codes and influence["la_code"].is_unique
    assert 140 <= len(influence) <= 153
    assert set(influence["method"]) <= {"psis", "refit", "psis_unreliable"}
    assert (influence["method"] == "refit").sum() <= 1
    dropped = pd.read_csv(out / "dropped_cells.csv")
    assert {"E08000025"} <= set(dropped["la_code"])
    assert "E08000025" not in la_codes


@pytest.mark.parametrize("year, fragment", [("2024", "must look like '2024-25'"),
                                            ("2019-20", "not available")])
def test_costs_cli_bad_year_is_a_user_error(year, fragment, tmp_path, capsys, data_dir):
    code = main(["costs", "--data-dir", str(data_dir), "--year", year, "--out",
                 str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and fragment in err and "Traceback" not in err


# ====================================================================== allocation


def test_allocate_with_cost_weight_draws_widens_intervals(mocked_sampler, tmp_path, capsys):
    priors = write_concentrated_priors(tmp_path, "area_priors.toml")
    run = tmp_path / "run"
    assert main(["demo", "--scale", "tiny", "--out", str(run), "--draws", "30", "--tune", "1",
                 "--no-progress", "--priors", str(priors)]) == 0
    area = generate_area("tiny", random_seed=0)  # the demo's data (seed 0)
    design, unit_costs = area_cost_design(area)
    model = CostWeightModel(area.spend, unit_costs, design)
    cost_fit = model.fit(random_seed=5, draws=30, tune=1, chains=2, progressbar=False)
    nc = model.save(cost_fit, tmp_path / "cost_weights.nc")
    capsys.readouterr()

    out = tmp_path / "uncertain"
    assert main(["allocate", str(run), "--out", str(out), "--cost-weights", str(nc),
                 "--allow-unconverged"]) == 0  # 30 mocked draws miss the convergence gate
    printed = capsys.readouterr().out
    assert "fixed weights (posterior mean) vs uncertain weights" in printed
    decomposition = pd.read_csv(out / "decomposition.csv")
    assert len(decomposition) == area.data.geography.n_la
    # Each demand draw is pooled with many weight draws, so the widening is not lost in the
    # Monte Carlo noise of 60 draws' tail quantiles.
    assert (decomposition["width_total"] > decomposition["width_demand"]).mean() >= 0.9
    assert (decomposition["sd_ratio"] > 1).mean() >= 0.9, decomposition["sd_ratio"]
    assert (decomposition["width_cost"] > 0).all()
    assert np.isfinite(decomposition["sd_ratio"]).all()
    assert "share posterior sd, uncertain vs fixed weights" in printed
    draws = xr.load_dataset(out / "allocation.nc", engine="h5netcdf")["cost_weight"]
    assert draws.dims == (dims.CHAIN, dims.DRAW, dims.SERVICE)
    expected = service_weights(cost_fit, list(draws[dims.SERVICE].values))
    np.testing.assert_allclose(draws, expected.transpose(*draws.dims))  # paired by position
    assert (draws.sel(service="cla") == 0).all()
    assert draws.sel(service="cin").std() > 0


def test_decomposition_constant_weights_change_nothing_and_small_uncertainty_widens():
    rng = np.random.default_rng(3)
    # Each LA's need is mostly one service, with little demand noise, so its share moves
    # with the relative weights.
    mix = np.eye(3)[np.arange(6) % 3] * 10.0 + 1.0
    need = xr.DataArray(mix * rng.gamma(400.0, 1 / 400.0, (2, 500, 6, 3)),
                        dims=(dims.CHAIN, dims.DRAW, dims.LA, dims.SERVICE),
                        coords={dims.LA: [f"L{i}" for i in range(6)],
                                dims.SERVICE: ["a", "b", "c"]})
    base = np.array([1.0, 5.0, 20.0])

    def weights(spread: float) -> xr.DataArray:
        draws = base * np.exp(spread * rng.standard_normal((2, 200, 3)))
        return xr.DataArray(draws, dims=(dims.CHAIN, dims.DRAW, dims.SERVICE),
                            coords={dims.SERVICE: ["a", "b", "c"]})

    def decompose(w: xr.DataArray) -> pd.DataFrame:
        return decompose_interval_width(need, w, interval_prob=0.9, interval_kind="eti",
                                        random_seed=1)

    constant = decompose(weights(0.0))
    np.testing.assert_allclose(constant["sd_ratio"], 1.0, rtol=1e-9)
    np.testing.assert_allclose(constant["width_total"], constant["width_demand"], rtol=1e-9)
    # Cost noise a fifth of the demand noise adds ~2% to each width: far below the Monte
    # Carlo error of one weight draw per demand draw, but pooling shows it for every LA.
    small = decompose(weights(0.01))
    assert (small["width_total"] > small["width_demand"]).all(), small
    assert (small["sd_ratio"] > 1).all()
    wide = decompose(weights(0.5))
    assert (wide["sd_ratio"] > 2).all()
    assert list(wide["la_code"]) == [f"L{i}" for i in range(6)]


def test_price_factors_sum_to_zero_with_the_stated_prior(synthetic):
    """log_price / price_sd is ZeroSumNormal(1): sums to zero, each element N(0, 1 - 1/n)."""
    import pymc as pm

    model = CostWeightModel(synthetic.spend, synthetic.unit_costs, synthetic.design)
    prior = pm.sample_prior_predictive(draws=500, model=model.build_model(), random_seed=3,
                                       var_names=["log_price", "price_sd"]).prior
    z = (prior["log_price"] / prior["price_sd"]).to_numpy()
    np.testing.assert_allclose(z.sum(axis=-1), 0.0, atol=1e-9)
    n = z.shape[-1]
    assert stats.kstest(z.ravel() / np.sqrt(1 - 1 / n), "norm").pvalue > 1e-3
