"""A catalogue of malformed inputs to the public Python API.

Each case builds one bad input from a small valid fixture and names the exception type and
the substrings (column, code, row, file or parameter) the message must contain. Every error
must be a :class:`BayesNeedsError`, never a raw pandas/numpy/Python error.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bayes_needs.config.priors import load_priors, parse_priors
from bayes_needs.core.errors import (
    BayesNeedsError,
    DataValidationError,
    GeographyError,
    PriorConfigError,
)
from bayes_needs.data.area import AreaData
from bayes_needs.data.geography import Geography
from bayes_needs.data.person_records import PersonData
from bayes_needs.data.spend import SpendData, UnitCosts

NESTING = {"E1": {"M1": ["L1", "L2"], "M2": ["L3", "L4"]},
           "E2": {"M3": ["L5", "L6", "L7"]},
           "E3": {"M4": ["L8"], "M5": ["L9"]}}


# ---------------------------------------------------------------------- valid fixtures
def geo_frame() -> pd.DataFrame:
    return pd.DataFrame([{"lsoa_code": lsoa, "msoa_code": msoa, "la_code": la,
                          "msoa_name": f"msoa {msoa}"}
                         for la, msoas in NESTING.items() for msoa, lsoas in msoas.items()
                         for lsoa in lsoas])


GEO = Geography.from_frame(geo_frame())


def lsoa_table() -> pd.DataFrame:
    n = GEO.n_lsoa
    return pd.DataFrame({"lsoa_code": GEO.lsoa_codes, "children": 100.0 + np.arange(n),
                         "idaci": np.linspace(0.0, 0.4, n)})


def counts() -> pd.DataFrame:
    rows = [("cla", "lsoa", "L1", 3), ("cla", "lsoa", "L2", 1), ("cla", "lsoa", "L3", 0),
            ("cla", "lsoa", "L4", 2), ("cla", "msoa", "M3", 7), ("cla", "la", "E3", 4),
            ("cin", "la", "E1", 20)]
    return pd.DataFrame(rows, columns=["service", "level", "area_code", "count"]).astype(
        {"count": float})


def records() -> pd.DataFrame:
    rng = np.random.default_rng(11)
    n = 10
    return pd.DataFrame({"child_id": [f"c{i}" for i in range(n)],
                         "lsoa_code": GEO.lsoa_codes[np.arange(n) % GEO.n_lsoa],
                         "exposure": rng.uniform(0.2, 1.0, n),
                         "age_band": ["0-4", "5-9"] * 5, "sex": ["F", "M"] * 5,
                         "cla": np.ones(n)})


def population() -> pd.DataFrame:
    return pd.DataFrame([{"la_code": la, "age_band": a, "sex": s, "population": 100.0}
                         for la in GEO.la_codes for a in ("0-4", "5-9") for s in ("F", "M")])


def spend() -> pd.DataFrame:
    return pd.DataFrame({"la_code": ["E1", "E2", "E3"], "category": ["cla"] * 3,
                         "spend": [100.0, 200.0, 300.0]})


def volumes() -> pd.DataFrame:
    return pd.DataFrame({"la_code": ["E1", "E2", "E3"], "activity": ["cla_weeks"] * 3,
                         "volume": [10.0, 20.0, 30.0]})


def unit_costs() -> pd.DataFrame:
    return pd.DataFrame({"activity": ["cla_weeks", "cin"], "unit_cost": [1000.0, 50.0],
                         "sd_log": [0.1, 0.2], "price_base": ["2024-25"] * 2})


def prior_config() -> dict:
    return {"schema_version": 1, "priors": {
        "sigma_la": {"dist": "HalfNormal", "kwargs": {"sigma": 0.5}, "dims": ["service"]},
        "beta": {"dist": "Normal", "kwargs": {"mu": 0.0, "sigma": 1.0}, "dims": ["covariate"]}}}


PRIOR_TOML = ('schema_version = 1\n\n[priors.sigma_la]\ndist = "HalfNormal"\n'
              'kwargs = { sigma = 0.5 }\ndims = ["service"]\n')


# ---------------------------------------------------------------------- builders
def edit(frame: pd.DataFrame, **cells) -> pd.DataFrame:
    """Copy of ``frame`` with ``column=(row, value)`` cells replaced."""
    out = frame.copy()
    for column, (row, value) in cells.items():
        if not isinstance(value, str) and out[column].dtype.kind in "iub":
            out[column] = out[column].astype(object)
        out.loc[row, column] = value
    return out


def add_rows(frame: pd.DataFrame, *rows: dict) -> pd.DataFrame:
    return pd.concat([frame, pd.DataFrame(list(rows))], ignore_index=True)


def area(lsoa=None, cnt=None, **kwargs):
    kwargs.setdefault("covariates", ["idaci"])
    return AreaData.from_frames(GEO, lsoa_table() if lsoa is None else lsoa,
                                counts() if cnt is None else cnt, counts_source="counts.csv",
                                lsoa_source="lsoa.csv", **kwargs)


def person(recs=None, pop=None, **kwargs):
    return PersonData.from_frames(GEO, records() if recs is None else recs,
                                  population() if pop is None else pop,
                                  covariates=["age_band", "sex"], services=["cla"],
                                  source="children.csv", population_source="pop.csv", **kwargs)


def spend_data(s=None, v=None, **kwargs):
    return SpendData.from_frames(spend() if s is None else s, volumes() if v is None else v,
                                 source="ro3.csv", **kwargs)


def geography(frame, **kwargs):
    return Geography.from_frame(frame, source="lookup.csv", **kwargs)


def priors_with(change: Callable[[dict], None], **kwargs):
    config = prior_config()
    change(config)
    return parse_priors(config, source="priors.toml", **kwargs)


def prior_file(tmp: Path, name: str, content: bytes | str):
    path = tmp / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return load_priors(path)


def moved_msoa() -> pd.DataFrame:
    frame = geo_frame()
    frame.loc[frame["lsoa_code"] == "L4", "la_code"] = "E2"  # M2 now in E1 and E2
    return frame


# ---------------------------------------------------------------------- the catalogue
@dataclass(frozen=True)
class Case:
    id: str
    build: Callable[[Path], object]
    error: type[BayesNeedsError]
    needles: tuple[str, ...]


CASES = [
    # Geography
    Case("geo_lsoa_in_two_msoas",
         lambda t: geography(add_rows(geo_frame(), {"lsoa_code": "L1", "msoa_code": "M2",
                                                    "la_code": "E1"})),
         GeographyError, ("lookup.csv", "LSOA 'L1' is in 2 MSOAs", "'msoa_code'")),
    Case("geo_msoa_in_two_las", lambda t: geography(moved_msoa()),
         GeographyError, ("MSOA 'M2' is in 2 LAs", "'la_code'")),
    Case("geo_duplicate_lsoa", lambda t: geography(add_rows(geo_frame(), geo_frame().iloc[0]
                                                            .to_dict())),
         GeographyError, ("duplicate LSOA", "'L1'", "row(s) [0, 9]")),
    Case("geo_missing_code", lambda t: geography(edit(geo_frame(), lsoa_code=(3, None))),
         GeographyError, ("'lsoa_code'", "row(s) [3]")),
    Case("geo_blank_code", lambda t: geography(edit(geo_frame(), msoa_code=(5, "   "))),
         GeographyError, ("'msoa_code'", "row(s) [5]")),
    Case("geo_missing_column", lambda t: geography(geo_frame().drop(columns="msoa_code")),
         GeographyError, ("MSOA code column 'msoa_code'",)),
    Case("geo_empty_table", lambda t: geography(geo_frame().iloc[:0]),
         GeographyError, ("lookup.csv", "no rows")),
    Case("geo_empty_unit", lambda t: geography(geo_frame(), expected_las=["E1", "E2", "E3",
                                                                          "E99"]),
         GeographyError, ("empty unit", "E99")),
    Case("geo_msoa_two_names",
         lambda t: Geography.from_frame(edit(geo_frame(), msoa_name=(0, "other")),
                                        msoa_name="msoa_name", source="lookup.csv"),
         GeographyError, ("MSOA 'M1'", "'msoa_name'", "other")),
    Case("geo_not_a_frame", lambda t: geography({"lsoa_code": ["L1"]}),
         GeographyError, ("DataFrame", "dict")),
    Case("geo_position_unknown", lambda t: GEO.position("la", ["E1", "E77"], what="spend.csv"),
         DataValidationError, ("spend.csv", "E77")),

    # AreaData: counts
    Case("area_negative_count", lambda t: area(cnt=edit(counts(), count=(2, -1.0))),
         DataValidationError, ("counts.csv", "'count'", "row(s) [2]", "-1.0")),
    Case("area_fractional_count", lambda t: area(cnt=edit(counts(), count=(1, 1.5))),
         DataValidationError, ("'count'", "whole number", "row(s) [1]")),
    Case("area_text_in_count", lambda t: area(cnt=edit(counts().astype({"count": object}),
                                                       count=(4, "seven"))),
         DataValidationError, ("'count'", "cannot be read as numbers", "'seven'", "[4]")),
    Case("area_boolean_count", lambda t: area(cnt=counts().assign(count=True)),
         DataValidationError, ("'count'", "true/false")),
    Case("area_huge_count", lambda t: area(cnt=edit(counts(), count=(5, 1e308))),
         DataValidationError, ("'count'", "row(s) [5]", "1e+308")),
    Case("area_infinite_count", lambda t: area(cnt=edit(counts(), count=(6, np.inf))),
         DataValidationError, ("'count'", "row(s) [6]", "inf")),
    Case("area_missing_count", lambda t: area(cnt=edit(counts(), count=(0, np.nan))),
         DataValidationError, ("'count'", "missing", "row(s) [0]")),
    Case("area_unknown_area_code", lambda t: area(cnt=edit(counts(), area_code=(1, "L404"))),
         DataValidationError, ("L404", "'area_code'", "row(s) [1]")),
    Case("area_code_at_wrong_level", lambda t: area(cnt=edit(counts(), level=(4, "lsoa"))),
         DataValidationError, ("M3", "unknown LSOA")),
    Case("area_bad_level", lambda t: area(cnt=edit(counts(), level=(0, "ward"))),
         DataValidationError, ("'level'", "'ward'", "row(s) [0]")),
    Case("area_partial_coverage", lambda t: area(cnt=counts().drop(index=2)),
         DataValidationError, ("'cla'", "E1", "3 of its 4 LSOAs")),
    Case("area_mixed_levels",
         lambda t: area(cnt=add_rows(counts(), {"service": "cla", "level": "msoa",
                                                "area_code": "M4", "count": 1.0},
                                     {"service": "cla", "level": "msoa", "area_code": "M5",
                                      "count": 1.0})),
         DataValidationError, ("E3", "several levels", "'la'", "'msoa'")),
    Case("area_duplicate_rows", lambda t: area(cnt=add_rows(counts(), counts().iloc[6]
                                                            .to_dict())),
         DataValidationError, ("duplicate", "row(s) [6, 7]", "'E1'")),
    Case("area_mismatched_year", lambda t: area(cnt=counts().assign(year=[2024] * 6 + [2023]),
                                                year=2024),
         DataValidationError, ("'year'", "2023", "row(s) [6]")),
    Case("area_empty_counts", lambda t: area(cnt=counts().iloc[:0]),
         DataValidationError, ("counts.csv", "no rows")),
    Case("area_missing_count_column", lambda t: area(cnt=counts().rename(columns={
        "count": "n"})),
         DataValidationError, ("counts.csv", "'count'", "'n'")),
    Case("area_repeated_column", lambda t: area(cnt=pd.concat([counts(), counts()[["count"]]],
                                                              axis=1)),
         DataValidationError, ("'count'", "more than once")),
    Case("area_undeclared_service", lambda t: area(services=["cla"]),
         DataValidationError, ("'service'", "cin", "row(s) [6]")),
    Case("area_implausible_count", lambda t: area(cnt=edit(counts(), count=(6, 1e12))),
         DataValidationError, ("counts.csv", "service 'cin', LA E1 (row 6)", "1000000000000",
                               "per child")),
    Case("area_file_lines_named",
         lambda t: area(cnt=edit(counts(), count=(2, -1.0)).set_axis(
             pd.Index(np.arange(7) + 4, name="line"))),
         DataValidationError, ("counts.csv", "'count'", "line(s) [6]")),
    Case("area_bad_service_name", lambda t: area(cnt=edit(counts(), service=(6, "Child in need"))),
         DataValidationError, ("Child in need",)),

    # AreaData: LSOA table
    Case("area_zero_exposure_positive_count",
         lambda t: area(lsoa=edit(lsoa_table(), children=(0, 0.0))),
         DataValidationError, ("'count'", "exposure is zero", "L1", "row(s) [0]")),
    Case("area_negative_exposure", lambda t: area(lsoa=edit(lsoa_table(), children=(4, -3.0))),
         DataValidationError, ("lsoa.csv", "'children'", "row(s) [4]")),
    Case("area_nan_covariate", lambda t: area(lsoa=edit(lsoa_table(), idaci=(3, np.nan))),
         DataValidationError, ("lsoa.csv", "'idaci'", "row(s) [3]")),
    Case("area_infinite_covariate", lambda t: area(lsoa=edit(lsoa_table(), idaci=(7, -np.inf))),
         DataValidationError, ("'idaci'", "finite", "row(s) [7]")),
    Case("area_huge_covariate", lambda t: area(lsoa=edit(lsoa_table(), idaci=(8, 1e308))),
         DataValidationError, ("'idaci'", "row(s) [8]")),
    Case("area_covariate_named_lsoa",
         lambda t: area(lsoa=lsoa_table().rename(columns={"idaci": "lsoa"}),
                        covariates=["lsoa"]),
         DataValidationError, ("lsoa.csv", "covariate name 'lsoa' is reserved")),
    Case("area_missing_covariate_column", lambda t: area(covariates=["idaci", "imd"]),
         DataValidationError, ("lsoa.csv", "'imd'")),
    Case("area_unknown_lsoa", lambda t: area(lsoa=edit(lsoa_table(), lsoa_code=(0, "X1"))),
         DataValidationError, ("'lsoa_code'", "X1", "L1")),
    Case("area_duplicate_lsoa_after_strip",
         lambda t: area(lsoa=add_rows(lsoa_table(), {"lsoa_code": " L2 ", "children": 1.0,
                                                     "idaci": 0.1})),
         DataValidationError, ("'lsoa_code'", "duplicate", "'L2'")),
    Case("area_counts_not_a_frame", lambda t: area(cnt=counts().to_dict("records")),
         DataValidationError, ("counts.csv", "DataFrame", "list")),

    # PersonData
    Case("person_exposure_above_one", lambda t: person(edit(records(), exposure=(3, 1.5))),
         DataValidationError, ("children.csv", "'exposure'", "row(s) [3]", "1.5")),
    Case("person_negative_exposure", lambda t: person(edit(records(), exposure=(2, -0.5))),
         DataValidationError, ("'exposure'", "row(s) [2]")),
    Case("person_zero_exposure_with_outcome",
         lambda t: person(edit(records(), exposure=(5, 0.0))),
         DataValidationError, ("'exposure'", "positive outcome", "row(s) [5]")),
    Case("person_unknown_lsoa", lambda t: person(edit(records(), lsoa_code=(4, "Q9"))),
         DataValidationError, ("'lsoa_code'", "Q9", "row(s) [4]")),
    Case("person_duplicate_child", lambda t: person(edit(records(), child_id=(7, "c1"))),
         DataValidationError, ("duplicate child", "'c1'", "[1, 7]")),
    Case("person_text_outcome", lambda t: person(edit(records().astype({"cla": object}),
                                                      cla=(0, "yes"))),
         DataValidationError, ("'cla'", "'yes'")),
    Case("person_empty_records", lambda t: person(records().iloc[:0]),
         DataValidationError, ("children.csv", "no rows")),
    Case("person_population_missing_la",
         lambda t: person(pop=population().query("la_code != 'E2'")),
         DataValidationError, ("pop.csv", "E2")),
    Case("person_population_unknown_la", lambda t: person(pop=edit(population(),
                                                                   la_code=(0, "W06"))),
         DataValidationError, ("pop.csv", "W06", "row(s) [0]")),
    Case("person_mismatched_year",
         lambda t: person(records().assign(year=["2023"] * 9 + ["2022"]), year=2023),
         DataValidationError, ("'year'", "2022")),

    # SpendData and UnitCosts
    Case("spend_negative", lambda t: spend_data(edit(spend(), spend=(1, -5.0))),
         DataValidationError, ("ro3.csv (spend)", "'spend'", "row(s) [1]")),
    Case("spend_suppressed_marker", lambda t: spend_data(edit(spend().astype({"spend": object}),
                                                              spend=(2, "[x]"))),
         DataValidationError, ("'spend'", "'[x]'", "[2]")),
    Case("spend_duplicate", lambda t: spend_data(add_rows(spend(), spend().iloc[0].to_dict())),
         DataValidationError, ("duplicate spend", "'E1'")),
    Case("spend_unknown_la", lambda t: spend_data(v=edit(volumes(), la_code=(2, "E404")),
                                                  la_codes=GEO.la_codes),
         DataValidationError, ("volumes", "E404", "row(s) [2]")),
    Case("spend_empty", lambda t: spend_data(spend().iloc[:0]),
         DataValidationError, ("ro3.csv (spend)", "no rows")),
    Case("spend_mismatched_year",
         lambda t: spend_data(spend().assign(year="2023-24"), year="2024-25"),
         DataValidationError, ("'year'", "2023-24", "2024-25")),
    Case("unit_cost_zero", lambda t: UnitCosts.from_frame(edit(unit_costs(), unit_cost=(1, 0.0)),
                                                          source="costs.csv"),
         DataValidationError, ("costs.csv", "'unit_cost'", "row(s) [1]")),
    Case("unit_cost_duplicate_activity",
         lambda t: UnitCosts.from_frame(edit(unit_costs(), activity=(1, "cla_weeks"))),
         DataValidationError, ("'activity'", "duplicate", "cla_weeks")),
    Case("unit_cost_empty", lambda t: UnitCosts.from_frame(unit_costs().iloc[:0],
                                                           source="costs.csv"),
         DataValidationError, ("costs.csv", "no rows")),
    Case("unit_cost_missing_sd", lambda t: UnitCosts.from_frame(unit_costs().drop(
        columns="sd_log")),
         DataValidationError, ("'sd_log'",)),

    # Priors
    Case("prior_unknown_distribution",
         lambda t: priors_with(lambda c: c["priors"]["sigma_la"].update(dist="HalfNormol")),
         PriorConfigError, ("priors.toml", "priors.sigma_la", "HalfNormol")),
    Case("prior_not_a_distribution",
         lambda t: priors_with(lambda c: c["priors"]["sigma_la"].update(dist="Model")),
         PriorConfigError, ("priors.sigma_la", "'Model'")),
    Case("prior_kwarg_wrong_type",
         lambda t: priors_with(lambda c: c["priors"]["beta"]["kwargs"].update(mu="zero")),
         PriorConfigError, ("priors.beta.kwargs.mu", "'zero'")),
    Case("prior_kwarg_bool",
         lambda t: priors_with(lambda c: c["priors"]["beta"]["kwargs"].update(sigma=True)),
         PriorConfigError, ("priors.beta.kwargs.sigma", "True")),
    Case("prior_kwarg_negative_scale",
         lambda t: priors_with(lambda c: c["priors"]["sigma_la"]["kwargs"].update(sigma=-1.0)),
         PriorConfigError, ("priors.sigma_la.kwargs.sigma", "> 0")),
    Case("prior_kwarg_unknown_parameter",
         lambda t: priors_with(lambda c: c["priors"]["beta"].update(kwargs={"mu": 0, "sd": 1})),
         PriorConfigError, ("priors.beta.kwargs", "unknown parameter(s) ['sd']", "Normal")),
    Case("prior_unknown_dims",
         lambda t: priors_with(lambda c: c["priors"]["beta"].update(dims=["covariates"])),
         PriorConfigError, ("priors.beta.dims", "covariates")),
    Case("prior_unknown_key",
         lambda t: priors_with(lambda c: c["priors"]["beta"].update(sigma=1.0)),
         PriorConfigError, ("priors.beta", "unknown key", "sigma")),
    Case("prior_unknown_top_level_key", lambda t: priors_with(lambda c: c.update(prior={})),
         PriorConfigError, ("top-level", "'prior'")),
    Case("prior_bad_schema_version", lambda t: priors_with(lambda c: c.update(
        schema_version=99)),
         PriorConfigError, ("schema_version", "99")),
    Case("prior_missing_schema_version", lambda t: priors_with(lambda c: c.pop(
        "schema_version")),
         PriorConfigError, ("priors.toml", "schema_version")),
    Case("prior_unexpected_variable",
         lambda t: priors_with(lambda c: c["priors"].update(sigma_typo=c["priors"]["beta"]),
                               expected=["sigma_la", "beta"]),
         PriorConfigError, ("priors.sigma_typo", "not a variable")),
    Case("prior_malicious_yaml",
         lambda t: prior_file(t, "evil.yaml", 'schema_version: 1\npriors: '
                                              '!!python/object/apply:os.system ["echo hi"]\n'),
         PriorConfigError, ("evil.yaml", "python/object/apply", "line 2")),
    Case("prior_empty_file", lambda t: prior_file(t, "empty.toml", b""),
         PriorConfigError, ("empty.toml", "empty")),
    Case("prior_comment_only_yaml", lambda t: prior_file(t, "blank.yaml", "# nothing\n"),
         PriorConfigError, ("blank.yaml", "empty")),
    Case("prior_utf16_file", lambda t: prior_file(t, "wide.toml", PRIOR_TOML.encode("utf-16")),
         PriorConfigError, ("wide.toml", "UTF-16")),
    Case("prior_latin1_file",
         lambda t: prior_file(t, "latin.toml", ("# café\n" + PRIOR_TOML).encode("latin-1")),
         PriorConfigError, ("latin.toml", "UTF-8")),
    Case("prior_invalid_toml", lambda t: prior_file(t, "broken.toml", "schema_version = \n"),
         PriorConfigError, ("broken.toml", "invalid TOML", "line 1")),
    Case("prior_yaml_duplicate_key",
         lambda t: prior_file(t, "dup.yaml", "schema_version: 1\npriors:\n  a: {dist: Normal}\n"
                                             "  a: {dist: Cauchy}\n"),
         PriorConfigError, ("dup.yaml", "duplicate key 'a'", "line 4")),
    Case("prior_wrong_extension", lambda t: prior_file(t, "priors.json", "{}"),
         PriorConfigError, ("priors.json", ".json")),
    Case("prior_missing_file", lambda t: load_priors(t / "nowhere.toml"),
         PriorConfigError, ("nowhere.toml", "does not exist")),
]

# Reprs and internals that must never reach a user.
GENERIC = re.compile(r"object at 0x|Traceback|np\.(int|float)64\(|^\s*$|<class ")


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, tmp_path: Path):
    with pytest.raises(BayesNeedsError) as info:
        case.build(tmp_path)
    exc = info.value
    assert isinstance(exc, case.error), f"{type(exc).__name__}: {exc}"
    message = str(exc)
    for needle in case.needles:
        assert needle in message, f"{needle!r} not in message:\n{message}"
    assert not GENERIC.search(message), message
    assert exc.problems and all(p.strip() for p in exc.problems)


def test_catalogue_size_and_unique_ids():
    assert len(CASES) >= 25
    assert len({c.id for c in CASES}) == len(CASES)


def test_valid_fixtures_pass(tmp_path):
    """The fixtures the catalogue corrupts are valid, so each case fails for its own reason."""
    geography(geo_frame())
    area()
    person()
    spend_data(la_codes=GEO.la_codes)
    UnitCosts.from_frame(unit_costs())
    assert set(priors_with(lambda c: None, expected=["sigma_la", "beta"])) == {"sigma_la",
                                                                               "beta"}
    assert set(prior_file(tmp_path, "ok.toml", PRIOR_TOML)) == {"sigma_la"}


def test_bom_prefixed_toml_loads(tmp_path):
    loaded = prior_file(tmp_path, "bom.toml", b"\xef\xbb\xbf" + PRIOR_TOML.encode("utf-8"))
    assert loaded["sigma_la"].parameters["sigma"] == 0.5
