"""A catalogue of malformed inputs through the command line.

Each case builds one bad input from small valid files (prior files via ``--priors``, run
configs via ``fit --config``, scenario files via ``sensitivity --scenarios``, CSV inputs via
``fit --geography/--lsoa-table/--counts``, and command-line arguments) and names substrings
(file, column, line, key or option) that the error must contain. Every case must exit with
code 2, print one message on stderr, show no traceback, write no output files and execute
nothing from a file. The Python API has its own catalogue in ``test_bad_inputs.py``; this one
covers what reaches the API through the CLI.

Run directories (``allocate RUN``, ``report RUN``) are copies of a saved run with ``fit.nc``
or ``run.json`` edited: a loaded fit is never trusted, and the convergence gate recomputes
what the file claims. Every input that can be checked before sampling must be: a case fails
if the sampler was called, so no fit is thrown away, and nothing may be written into the
current directory.

A mocked sampler stands in for NUTS, so a case that wrongly passed validation would still
finish quickly (and then fail on its exit code).
"""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import shutil
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pymc as pm
import pytest
from archives import zipped
from clitools import finish, run_cli, start_cli
from fit_files import (
    CONFIG,
    CONVERGENCE,
    drop_variable,
    edit_json_attr,
    looks_converged,
    nan_variable,
    reversed_coordinate,
    rewrite_fit,
    set_attr,
    without_group,
)
from sampling_mocks import patched_sample

from bayes_needs.cli import main
from bayes_needs.simulate.area import generate_area

SAMPLING = ["--draws", "10", "--tune", "10", "--chains", "1", "--no-progress"]
#: A saved run the run-directory cases edit: tiny synthetic England, 2 chains (R-hat defined).
RUN_CONFIG = ('schema_version = 1\n[data]\nsource = "synthetic"\nscale = "tiny"\n'
              'services = ["cin", "cla"]\ncovariates = ["idaci"]\n')
PRIOR_TOML = ('schema_version = 1\n\n[priors.sigma_la]\ndist = "HalfNormal"\n'
              'kwargs = { sigma = 0.5 }\ndims = ["service"]\n')
SCENARIO_BASE = 'schema_version = 1\n[base.data]\nsource = "synthetic"\nscale = "tiny"\n'
#: A file the malicious YAML cases try to create through ``os.system``.
PWNED = "pwned.txt"


def alias_bomb(parent: str, levels: int = 7, width: int = 9) -> str:
    """YAML aliases nested ``levels`` deep under ``parent``: ``width ** levels`` values from
    a few hundred bytes (kept below a size that would exhaust memory without the guard)."""
    lines = ["schema_version: 1", f"{parent}:",
             "  l0: &l0 [" + ", ".join(["lol"] * width) + "]"]
    lines += [f"  l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * width) + "]"
              for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def area_prior(name: str, dist: str, kwargs: str, dims: str | None = '["service"]',
               extra: str = "") -> str:
    """A prior file setting one area-model prior."""
    dims_line = f"dims = {dims}\n" if dims is not None else ""
    return (f'schema_version = 1\n\n[priors.{name}]\ndist = "{dist}"\nkwargs = {kwargs}\n'
            f"{dims_line}{extra}")


@pytest.fixture(scope="module")
def valid_frames() -> dict[str, pd.DataFrame]:
    """Valid ``fit --geography/--lsoa-table/--counts`` inputs (tiny synthetic England)."""
    data = generate_area("tiny", random_seed=3, services=("cin", "cla")).data
    lsoa = data.covariates.reset_index(drop=True)
    lsoa.insert(0, "children", data.exposure.astype(int))
    lsoa.insert(0, "lsoa_code", data.geography.lsoa_codes)
    return {"geography": data.geography.to_frame()[["lsoa_code", "msoa_code", "la_code"]],
            "lsoa": lsoa, "counts": data.observations.copy()}


def saved_run(directory: Path, *sampling: str) -> Path:
    """Fit :data:`RUN_CONFIG` under the mock sampler into ``directory / 'run'``."""
    config = directory / "run.toml"
    config.write_text(RUN_CONFIG, encoding="utf-8")
    with patched_sample():
        assert main(["fit", "--config", str(config), "--out", str(directory / "run"),
                     "--tune", "10", "--no-progress", *sampling]) == 0
    return directory / "run"


@pytest.fixture(scope="module")
def valid_run(tmp_path_factory) -> Path:
    """A saved run (2 chains x 10 draws) for the ``allocate``/``report`` cases to edit."""
    return saved_run(tmp_path_factory.mktemp("valid_run"), "--draws", "10", "--chains", "2")


@pytest.fixture(scope="module")
def one_draw_run(tmp_path_factory) -> Path:
    """A legal saved run of a single draw (1 chain x 1 draw)."""
    return saved_run(tmp_path_factory.mktemp("one_draw_run"), "--draws", "1", "--chains", "1")


@dataclass
class Ctx:
    """Where a case writes its files; ``frames`` are fresh copies of the valid inputs."""

    tmp: Path
    frames: dict[str, pd.DataFrame]
    request: pytest.FixtureRequest | None = None

    @property
    def out(self) -> Path:
        return self.tmp / "out"

    def write(self, name: str, content: str | bytes) -> Path:
        path = self.tmp / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
        return path

    def csv(self, kind: str, frame: pd.DataFrame | None = None, *, name: str | None = None,
            encoding: str = "utf-8") -> Path:
        frame = self.frames[kind] if frame is None else frame
        return self.write(name or f"{kind}.csv",
                          frame.to_csv(index=False, lineterminator="\n").encode(encoding))

    def files(self, **replaced: Path) -> list[str]:
        """``fit`` arguments with valid CSV inputs except those ``replaced``."""
        paths = {kind: replaced.get(kind) or self.csv(kind)
                 for kind in ("geography", "lsoa", "counts")}
        return ["fit", "--geography", paths["geography"], "--lsoa-table", paths["lsoa"],
                "--counts", paths["counts"], "--out", self.out, *SAMPLING]

    def demo(self, *extra) -> list:
        return ["demo", "--scale", "tiny", "--out", self.out, *SAMPLING, *extra]

    def priors(self, content: str | bytes, name: str = "priors.toml") -> list:
        return self.demo("--priors", self.write(name, content))

    def config(self, text: str, name: str = "run.toml", *extra) -> list:
        body = text if name.endswith((".yaml", ".yml")) else "schema_version = 1\n" + text
        return ["fit", "--config", self.write(name, body), "--out", self.out, *SAMPLING,
                *extra]

    def scenarios(self, text: str | bytes, name: str = "scenarios.toml") -> list:
        return ["sensitivity", "--scenarios", self.write(name, text), "--out", self.out]

    def synthetic_config(self, text: str, *extra) -> list:
        return self.config("[data]\nsource = 'synthetic'\nscale = 'tiny'\n" + text,
                           "run.toml", *extra)

    def run(self, fixture: str = "valid_run", *, fit=None, run_json=None) -> Path:
        """A copy of a saved run with ``fit.nc`` edited (``fit``) or ``run.json`` replaced
        (bytes, or a function changing the parsed file)."""
        assert self.request is not None
        run = self.tmp / "run"
        shutil.copytree(self.request.getfixturevalue(fixture), run)
        if fit is not None:
            rewrite_fit(run / "fit.nc", fit)
        if callable(run_json):
            stored = json.loads((run / "run.json").read_text(encoding="utf-8"))
            run_json(stored)
            run_json = json.dumps(stored)
        if run_json is not None:
            self.write("run/run.json", run_json)
        return run

    def allocate(self, *extra, **edits) -> list:
        """``allocate`` a copy of the saved run, gate overridden (the case is not the gate)."""
        return ["allocate", self.run(**edits), "--out", self.out, "--allow-unconverged",
                *extra]


def with_row(frame: pd.DataFrame, row: dict) -> pd.DataFrame:
    return pd.concat([frame, pd.DataFrame([row])], ignore_index=True)


def edited(frame: pd.DataFrame, row: int, column: str, value) -> pd.DataFrame:
    out = frame.astype({column: object})
    out.loc[row, column] = value
    return out


def zero_children(c: Ctx, la_codes=None) -> dict[str, Path]:
    """``fit`` inputs with no children (and so no counts) in ``la_codes`` (default: all LAs)."""
    geo = c.frames["geography"]
    las = set(geo["la_code"]) if la_codes is None else set(la_codes)
    lsoas = geo[geo["la_code"].isin(las)]
    areas = las | set(lsoas["lsoa_code"]) | set(lsoas["msoa_code"])
    lsoa, counts = c.frames["lsoa"].copy(), c.frames["counts"].copy()
    lsoa.loc[lsoa["lsoa_code"].isin(areas), "children"] = 0
    counts.loc[counts["area_code"].isin(areas), "count"] = 0
    return {"lsoa": c.csv("lsoa", lsoa), "counts": c.csv("counts", counts)}


def first_lsoa_count_row(c: Ctx) -> int:
    return int(np.flatnonzero(c.frames["counts"]["level"].to_numpy() == "lsoa")[0])


def moved_msoa(c: Ctx) -> pd.DataFrame:
    """The last LSOA of the first MSOA moved to another LA (MSOA split across two LAs)."""
    geo = c.frames["geography"].copy()
    first = geo["msoa_code"] == geo["msoa_code"].iloc[0]
    other_la = geo.loc[geo["la_code"] != geo["la_code"].iloc[0], "la_code"].iloc[0]
    geo.loc[np.flatnonzero(first)[-1], "la_code"] = other_la
    return geo


def csv_text(c: Ctx, kind: str) -> str:
    return c.frames[kind].to_csv(index=False, lineterminator="\n")


def with_line(c: Ctx, kind: str, row: int, edit: Callable[[str], str]) -> Path:
    """The valid ``kind`` CSV with data row ``row`` (file line ``row + 2``) edited as text."""
    lines = csv_text(c, kind).splitlines()
    lines[row + 1] = edit(lines[row + 1])
    return c.write(f"{kind}.csv", "\n".join(lines) + "\n")


def thousands(line: str) -> str:
    """A count written with an unquoted thousands separator: ``...,1,951``."""
    return line.rsplit(",", 1)[0] + ",1,951"



def tarred(name: str, text: str) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        info = tarfile.TarInfo(name)
        info.size = len(text.encode())
        archive.addfile(info, io.BytesIO(text.encode()))
    return buffer.getvalue()


#: Compressions read by content whatever the file is called (every input here ends ``.csv``).
COMPRESSIONS: dict[str, Callable[[str], bytes]] = {
    "gzip": lambda text: gzip.compress(text.encode()),
    "bzip2": lambda text: bz2.compress(text.encode()),
    "xz": lambda text: lzma.compress(text.encode()),
    "zip_one_member": lambda text: zipped(("counts.csv", text)),
}


@dataclass(frozen=True)
class Case:
    id: str
    args: Callable[[Ctx], list]
    needles: tuple[str, ...]


CASES = [
    # ------------------------------------------------------------------ prior files
    Case("prior_unknown_distribution",
         lambda c: c.priors(PRIOR_TOML.replace("HalfNormal", "HalfNormol")),
         ("priors.toml", "priors.sigma_la.dist", "unknown distribution 'HalfNormol'")),
    Case("prior_yaml_python_object_apply",
         lambda c: c.priors(f'schema_version: 1\npriors: !!python/object/apply:os.system '
                            f'["touch {c.tmp / PWNED}"]\n', "evil.yaml"),
         ("evil.yaml", "unsafe YAML", "python/object/apply")),
    Case("prior_yaml_python_name",
         lambda c: c.priors("schema_version: 1\npriors:\n  sigma_la: !!python/name:os.system"
                            "\n", "evil.yml"),
         ("evil.yml", "unsafe YAML", "python/name")),
    Case("prior_empty_file", lambda c: c.priors(b""), ("priors.toml", "empty")),
    Case("prior_utf16_file", lambda c: c.priors(PRIOR_TOML.encode("utf-16")),
         ("priors.toml", "UTF-16", "UTF-8")),
    Case("prior_latin1_file",
         lambda c: c.priors(("# Café prior\n" + PRIOR_TOML).encode("latin-1")),
         ("priors.toml", "not valid UTF-8")),
    Case("prior_binary_garbage", lambda c: c.priors(bytes(range(256)) * 4, "priors.yaml"),
         ("priors.yaml",)),
    Case("prior_unknown_kwarg",
         lambda c: c.priors(PRIOR_TOML.replace("sigma = 0.5", "sd = 0.5")),
         ("priors.sigma_la.kwargs", "unknown parameter(s) ['sd']", "HalfNormal")),
    Case("prior_negative_scale",
         lambda c: c.priors(PRIOR_TOML.replace("sigma = 0.5", "sigma = -0.5")),
         ("priors.sigma_la.kwargs.sigma", "> 0")),
    Case("prior_text_kwarg",
         lambda c: c.priors(PRIOR_TOML.replace("sigma = 0.5", 'sigma = "wide"')),
         ("priors.sigma_la.kwargs.sigma", "'wide'")),
    Case("prior_huge_kwarg",
         lambda c: c.priors(PRIOR_TOML.replace("sigma = 0.5", "sigma = 1e400")),
         ("priors.sigma_la.kwargs.sigma", "finite")),
    Case("prior_not_a_model_variable",
         lambda c: c.priors(PRIOR_TOML.replace("priors.sigma_la", "priors.sigma_msoa")),
         ("priors.sigma_msoa", "not a variable of this model", "msoa_cv")),
    Case("prior_unknown_dim",
         lambda c: c.priors(PRIOR_TOML.replace('["service"]', '["services"]')),
         ("priors.sigma_la.dims", "services")),
    Case("prior_invalid_toml", lambda c: c.priors("schema_version = 1\n[priors.sigma_la\n"),
         ("priors.toml", "invalid TOML")),
    Case("prior_wrong_extension", lambda c: c.priors('{"schema_version": 1}', "priors.json"),
         ("priors.json", "unsupported file type '.json'")),
    Case("prior_missing_file", lambda c: c.demo("--priors", c.tmp / "nowhere.toml"),
         ("--priors", "nowhere.toml", "does not exist")),
    Case("prior_yaml_alias_bomb", lambda c: c.priors(alias_bomb("priors"), "bomb.yaml"),
         ("bomb.yaml", "aliases are expanded", "line ")),
    Case("prior_missing_schema_version",
         lambda c: c.priors(PRIOR_TOML.replace("schema_version = 1\n", "")),
         ("priors.toml", "missing 'schema_version'", "add the line 'schema_version = 1'")),
    # Each prior is checked against the dims and support its model declares.
    Case("prior_dims_swapped",
         lambda c: c.priors(area_prior("beta", "Normal", "{ mu = 0.0, sigma = 1.0 }",
                                       '["covariate", "service"]')),
         ("priors.toml", "priors.beta.dims", "['service', 'covariate']", "order matters")),
    Case("prior_dim_missing",
         lambda c: c.priors(area_prior("beta", "Normal", "{ mu = 0.0, sigma = 1.0 }")),
         ("priors.toml", "priors.beta.dims", "['service', 'covariate']")),
    Case("prior_dims_left_out",
         lambda c: c.priors(area_prior("sigma_la", "HalfNormal", "{ sigma = 0.5 }", None)),
         ("priors.toml", "priors.sigma_la.dims", "['service']")),
    Case("prior_per_la_intercept",
         lambda c: c.priors(area_prior("intercept", "Normal", "{ mu = -4.0, sigma = 2.0 }",
                                       '["service", "la"]')),
         ("priors.toml", "priors.intercept.dims", "must have dims ['service']")),
    Case("prior_mu_list_of_wrong_length",
         lambda c: c.priors(area_prior("intercept", "Normal",
                                       "{ mu = [-4.0, -4.0, -4.0, -4.0, -4.0, -4.0, -4.0], "
                                       "sigma = 2.0 }")),
         ("priors.toml", "priors.intercept.kwargs.mu", "7 values", "one per service")),
    Case("prior_wrong_support",
         lambda c: c.priors(area_prior("lsoa_dispersion", "Normal",
                                       "{ mu = 0.0, sigma = 1.0 }")),
         ("priors.toml", "priors.lsoa_dispersion.dist", "positive values", "HalfNormal")),
    Case("prior_discrete_distribution",
         lambda c: c.priors(area_prior("msoa_cv", "Poisson", "{ mu = 2.0 }")),
         ("priors.toml", "priors.msoa_cv", "discrete")),
    Case("prior_nested_scale_not_positive",
         lambda c: c.priors(area_prior("sigma_la", "HalfNormal",
                                       '{ sigma = { dist = "Normal", kwargs = { mu = 0.0, '
                                       'sigma = 1.0 } } }')),
         ("priors.toml", "priors.sigma_la.kwargs.sigma", "must be positive")),
    Case("prior_unknown_transform",
         lambda c: c.priors(area_prior("sigma_la", "Normal", "{ mu = 0.0, sigma = 1.0 }",
                                       extra='transform = "log"\n')),
         ("priors.toml", "priors.sigma_la.transform", "unknown transform 'log'")),
    Case("prior_correlation_not_lkj",
         lambda c: c.priors(area_prior("la_corr", "HalfNormal", "{ sigma = 1.0 }", None)),
         ("priors.toml", "priors.la_corr.dist", "LKJCorr")),
    Case("prior_incompatible_parameters",
         lambda c: c.priors(area_prior("sigma_la", "Gamma", "{ alpha = 2.0 }")),
         ("priors.toml", "priors.sigma_la", "Gamma")),

    # ------------------------------------------------------------------ run configs
    Case("config_text_for_number", lambda c: c.config("[sampling]\ndraws = 'many'\n"),
         ("run.toml", "sampling.draws", "integer")),
    Case("config_negative_draws", lambda c: c.config("[sampling]\ndraws = -5\n"),
         ("run.toml", "sampling.draws", "greater than or equal to 1")),
    Case("config_huge_draws", lambda c: c.config("[sampling]\ndraws = 1000000000000\n"),
         ("run.toml", "sampling.draws", "less than or equal to")),
    Case("config_interval_prob_above_one",
         lambda c: c.config("[allocation]\ninterval_prob = 1.5\n"),
         ("run.toml", "allocation.interval_prob", "less than 1")),
    Case("config_target_accept_one", lambda c: c.config("[sampling]\ntarget_accept = 1.0\n"),
         ("run.toml", "sampling.target_accept", "less than 1")),
    Case("config_infinite_pot", lambda c: c.config("[allocation]\npot = inf\n"),
         ("run.toml", "allocation.pot", "finite")),
    Case("config_unknown_standardise",
         lambda c: c.config("[need]\nstandardise = 'partial'\n"),
         ("run.toml", "need.standardise", "'la'")),
    Case("config_unknown_sampler", lambda c: c.config("[sampling]\nsampler = 'stan'\n"),
         ("run.toml", "sampling.sampler", "'pymc'")),
    Case("config_bad_schema_version", lambda c: c.config("schema_version: 2\n", "run.yaml"),
         ("run.yaml", "schema_version")),
    Case("config_year_out_of_range", lambda c: c.config("[data]\nyear = 1066\n"),
         ("run.toml", "data.year")),
    Case("config_empty_file", lambda c: ["fit", "--config", c.write("run.toml", ""),
                                         "--out", c.out],
         ("run.toml", "empty")),
    Case("config_yaml_python_object",
         lambda c: c.config(f"schema_version: 1\ndescription: !!python/object/apply:os.system "
                            f"['touch {c.tmp / PWNED}']\n", "run.yaml"),
         ("run.yaml", "unsafe YAML", "python/object/apply")),
    Case("config_yaml_list_top_level", lambda c: c.config("- schema_version: 1\n",
                                                          "run.yaml"),
         ("run.yaml", "top level must be a mapping", "list")),
    Case("config_yaml_duplicate_key",
         lambda c: c.config("schema_version: 1\nsampling:\n  draws: 10\n  draws: 20\n",
                            "run.yaml"),
         ("run.yaml", "duplicate key 'draws'")),
    Case("config_unknown_model_option",
         lambda c: c.synthetic_config("[model]\nfamily = 'negbin'\nmsoa_effect = true\n"),
         ("unknown area model option(s) ['msoa_effect']",)),
    Case("config_unknown_family", lambda c: c.synthetic_config("[model]\nfamily = 'normal'\n"),
         ("family", "'normal'")),
    Case("config_unknown_service",
         lambda c: c.synthetic_config("services = ['foster_care']\n"),
         ("foster_care",)),
    Case("config_zero_cost_weights",
         lambda c: c.synthetic_config("[allocation.cost_weights]\ncin = 0.0\ncla = 0.0\n"),
         ("allocation.cost_weights", "at least one cost weight must be positive")),
    Case("config_files_source_without_files", lambda c: c.config("[data]\nsource = 'files'\n"),
         ("'files'", "--geography")),
    Case("config_missing_prior_file", lambda c: c.config("priors = 'nowhere.toml'\n"),
         ("nowhere.toml", "does not exist")),
    Case("config_yaml_alias_bomb_under_model",
         lambda c: c.config(alias_bomb("model"), "run.yaml"),
         ("run.yaml", "aliases are expanded", "line ")),
    Case("config_yaml_recursive_alias",
         lambda c: c.config("schema_version: 1\nmodel: &m {self: *m}\n", "run.yaml"),
         ("run.yaml", "recursive alias")),
    Case("config_yaml_set_value",
         lambda c: c.config("schema_version: 1\ndata:\n  services: !!set {cin, cla}\n",
                            "run.yaml"),
         ("run.yaml", "data.services", "type set")),
    Case("config_missing_schema_version",
         lambda c: ["fit", "--config", c.write("run.toml", "[sampling]\ndraws = 10\n"),
                    "--out", c.out, *SAMPLING],
         ("run.toml", "missing 'schema_version'", "schema_version = 1")),
    Case("config_yaml_missing_schema_version",
         lambda c: c.config("sampling:\n  draws: 10\n", "run.yaml"),
         ("run.yaml", "missing 'schema_version'", "schema_version: 1")),
    Case("config_covariates_text",
         lambda c: c.synthetic_config("[model]\ncovariates = 'imd'\n"),
         ("run.toml", "model: covariates", "got the text 'imd'", "covariates = ['imd']")),
    Case("config_covariates_number", lambda c: c.synthetic_config("[model]\ncovariates = 5\n"),
         ("run.toml", "model: covariates", "got int 5")),
    Case("config_data_covariates_empty", lambda c: c.synthetic_config("covariates = []\n"),
         ("run.toml", "data.covariates", "empty list")),
    Case("config_data_covariates_text", lambda c: c.synthetic_config("covariates = 'idaci'\n"),
         ("run.toml", "data.covariates", "got the text 'idaci'")),
    Case("config_inline_prior_wrong_support",
         lambda c: c.synthetic_config("[priors.sigma_la]\ndist = 'Normal'\n"
                                      "kwargs = { mu = 0.0, sigma = 1.0 }\n"
                                      "dims = ['service']\n"),
         ("run.toml", "priors.sigma_la.dist", "positive values")),

    # ------------------------------------------------------------------ scenario files
    Case("scenario_yaml_python_object",
         lambda c: c.scenarios(f"schema_version: 1\nbase: !!python/object/apply:os.system "
                               f"['touch {c.tmp / PWNED}']\n", "scenarios.yaml"),
         ("scenarios.yaml", "unsafe YAML", "python/object/apply")),
    Case("scenario_empty_file", lambda c: c.scenarios(b""), ("scenarios.toml", "empty")),
    Case("scenario_utf16_file",
         lambda c: c.scenarios(SCENARIO_BASE.encode("utf-16")), ("scenarios.toml", "UTF-16")),
    Case("scenario_unknown_section",
         lambda c: c.scenarios(SCENARIO_BASE + "[variations.x.sampler]\ndraws = 5\n"),
         ("scenarios.toml", "variations.x", "unknown key(s) ['sampler']")),
    Case("scenario_bad_variation_name",
         lambda c: c.scenarios(SCENARIO_BASE + '[variations."bad name!".model]\n'
                                               'family = "poisson"\n'),
         ("scenarios.toml", "invalid name 'bad name!'")),
    Case("scenario_out_of_range_value",
         lambda c: c.scenarios(SCENARIO_BASE + "[variations.x.sampling]\ndraws = -1\n"),
         ("scenarios.toml", "variations.x.sampling.draws")),
    Case("scenario_unknown_prior_distribution",
         lambda c: c.scenarios(SCENARIO_BASE + "[variations.x.priors.sigma_la]\n"
                                               "dist = 'HalfNormol'\nkwargs = {sigma = 1}\n"),
         ("scenarios.toml", "variations.x.priors", "HalfNormol")),
    Case("scenario_yaml_alias_bomb",
         lambda c: c.scenarios(alias_bomb("base"), "scenarios.yaml"),
         ("scenarios.yaml", "aliases are expanded")),
    Case("scenario_prior_dims_swapped",
         lambda c: c.scenarios(SCENARIO_BASE + "[variations.x.priors.beta]\n"
                                               "dist = 'Normal'\nkwargs = {mu = 0, sigma = 1}\n"
                                               "dims = ['covariate', 'service']\n"),
         ("scenarios.toml", "variations.x", "priors.beta.dims", "order matters")),
    Case("scenario_covariates_text",
         lambda c: c.scenarios(SCENARIO_BASE + "[variations.x.data]\ncovariates = 'idaci'\n"),
         ("scenarios.toml", "variations.x.data.covariates", "got the text 'idaci'")),
    Case("scenario_unknown_top_level_key",
         lambda c: c.scenarios("extra = 1\n" + SCENARIO_BASE
                               + "[variations.x.model]\nfamily = 'poisson'\n"),
         ("scenarios.toml", "unknown top-level key(s) ['extra']")),

    # ------------------------------------------------------------------ CSV inputs
    Case("csv_negative_count",
         lambda c: c.files(counts=c.csv("counts", edited(c.frames["counts"], 4, "count", -3))),
         ("counts.csv", "'count'", "-3")),
    Case("csv_text_count",
         lambda c: c.files(counts=c.csv("counts", edited(c.frames["counts"], 2, "count",
                                                          "seven"))),
         ("counts.csv", "'count'", "seven")),
    Case("csv_huge_count",
         lambda c: c.files(counts=c.csv("counts", edited(c.frames["counts"], 5, "count",
                                                          "1e308"))),
         ("counts.csv", "'count'")),
    Case("csv_unknown_level",
         lambda c: c.files(counts=c.csv("counts", edited(c.frames["counts"], 0, "level",
                                                          "ward"))),
         ("counts.csv", "'level'", "'ward'")),
    Case("csv_unknown_area_code",
         lambda c: c.files(counts=c.csv("counts", edited(c.frames["counts"],
                                                          first_lsoa_count_row(c),
                                                          "area_code", "E01999999"))),
         ("counts.csv", "E01999999")),
    Case("csv_duplicate_count_rows",
         lambda c: c.files(counts=c.csv("counts", with_row(c.frames["counts"],
                                                           c.frames["counts"].iloc[0]
                                                           .to_dict()))),
         ("counts.csv", "duplicate")),
    Case("csv_unknown_count_column",
         lambda c: c.files(counts=c.csv("counts", c.frames["counts"].assign(notes="x"))),
         ("counts.csv", "unknown column(s) ['notes']")),
    Case("csv_missing_count_column",
         lambda c: c.files(counts=c.csv("counts", c.frames["counts"].rename(
             columns={"count": "n"}))),
         ("counts.csv", "missing required column(s) ['count']")),
    Case("csv_semicolon_delimited",
         lambda c: c.files(counts=c.write("counts.csv", c.frames["counts"].to_csv(
             index=False, sep=";"))),
         ("counts.csv", "missing required column(s)")),
    Case("csv_empty_counts_file", lambda c: c.files(counts=c.write("counts.csv", b"")),
         ("counts.csv", "empty")),
    Case("csv_header_only_counts",
         lambda c: c.files(counts=c.write("counts.csv", "service,level,area_code,count\n")),
         ("counts.csv", "no data rows")),
    Case("csv_utf16_counts", lambda c: c.files(counts=c.csv("counts", encoding="utf-16")),
         ("counts.csv", "UTF-8")),
    Case("csv_latin1_geography",
         lambda c: c.files(geography=c.csv(
             "geography", c.frames["geography"].assign(la_name="Sant Feliu de Guíxols"),
             encoding="latin-1")),
         ("geography.csv", "not valid UTF-8")),
    Case("csv_gzip_garbage_counts",
         lambda c: c.files(counts=c.write("counts.csv.gz", b"\x1f\x8b\x08\x00garbage")),
         ("counts.csv.gz",)),
    Case("csv_nan_covariate",
         lambda c: c.files(lsoa=c.csv("lsoa", edited(c.frames["lsoa"], 7, "idaci", ""))),
         ("lsoa.csv", "'idaci'")),
    Case("csv_text_covariate",
         lambda c: c.files(lsoa=c.csv("lsoa", c.frames["lsoa"].assign(region="North"))),
         ("lsoa.csv", "'region'")),
    Case("csv_negative_children",
         lambda c: c.files(lsoa=c.csv("lsoa", edited(c.frames["lsoa"], 3, "children", -10))),
         ("lsoa.csv", "'children'")),
    Case("csv_unknown_lsoa_in_table",
         lambda c: c.files(lsoa=c.csv("lsoa", edited(c.frames["lsoa"], 0, "lsoa_code",
                                                      "E01999999"))),
         ("lsoa.csv", "'lsoa_code'", "E01999999")),
    Case("csv_lsoa_in_two_msoas",
         lambda c: c.files(geography=c.csv("geography", with_row(
             c.frames["geography"], {**c.frames["geography"].iloc[0].to_dict(),
                                     "msoa_code": c.frames["geography"]["msoa_code"]
                                     .iloc[-1]}))),
         ("geography.csv", "in 2 MSOAs")),
    Case("csv_msoa_in_two_las",
         lambda c: c.files(geography=c.csv("geography", moved_msoa(c))),
         ("geography.csv", "in 2 LAs")),
    Case("csv_unknown_geography_column",
         lambda c: c.files(geography=c.csv("geography", c.frames["geography"].assign(
             ward_code="W1"))),
         ("geography.csv", "unknown column(s) ['ward_code']")),
    Case("csv_partial_lsoa_coverage",
         lambda c: c.files(counts=c.csv("counts", c.frames["counts"].drop(
             index=first_lsoa_count_row(c)))),
         ("counts.csv", "LSOAs")),

    # ---------------------------------------------------- CSV rows, lines and containers
    Case("csv_thousands_separator_count",
         lambda c: c.files(counts=with_line(c, "counts", 3, thousands)),
         ("counts.csv", "line 5:", "5 field(s) where the header (line 1) has 4",
          "thousands separator")),
    Case("csv_thousands_separator_first_row",
         lambda c: c.files(counts=with_line(c, "counts", 0, thousands)),
         ("counts.csv", "line 2:", "5 field(s)")),
    Case("csv_geography_stray_field",
         lambda c: c.files(geography=with_line(c, "geography", 5, lambda t: t + ",x")),
         ("geography.csv", "line 7:", "4 field(s) where the header (line 1) has 3")),
    Case("csv_geography_stray_field_first_row",
         lambda c: c.files(geography=with_line(c, "geography", 0, lambda t: t + ",x")),
         ("geography.csv", "line 2:", "4 field(s)")),
    Case("csv_missing_field",
         lambda c: c.files(lsoa=with_line(c, "lsoa", 9, lambda t: t.rsplit(",", 1)[0])),
         ("lsoa.csv", "line 11:", "3 field(s) where the header (line 1) has 4")),
    Case("csv_unclosed_quote",
         lambda c: c.files(counts=with_line(c, "counts", 6, lambda t: t.replace(
             "cin", '"cin'))),
         ("counts.csv", "line 8:", "quoted field is not closed")),
    Case("csv_value_problem_names_file_line",
         lambda c: c.files(counts=c.csv("counts", edited(c.frames["counts"], 4, "count", -3))),
         ("counts.csv", "'count'", "line(s) [6]")),
    Case("csv_line_numbers_count_blank_lines",
         lambda c: c.files(counts=c.write("counts.csv", csv_text(c, "counts").replace(
             "\n", "\n\n", 1).replace(",la,SLA0004,867", ",la,SLA0004,-5"))),
         ("counts.csv", "'count'", "line(s) [5]")),
    Case("csv_geography_blank_code_names_line",
         lambda c: c.files(geography=c.csv("geography", edited(c.frames["geography"], 7,
                                                                "la_code", ""))),
         ("geography.csv", "'la_code'", "line(s) [9]")),
    Case("csv_unknown_area_code_names_line",
         lambda c: c.files(counts=c.csv("counts", edited(c.frames["counts"],
                                                          first_lsoa_count_row(c),
                                                          "area_code", "E01999999"))),
         ("counts.csv", "E01999999", "line(s) [7]")),
    Case("csv_tar_archive",
         lambda c: c.files(counts=c.write("counts.csv", tarred("counts.csv",
                                                               csv_text(c, "counts")))),
         ("counts.csv", "tar archive")),
    Case("csv_gzip_holding_tar",
         lambda c: c.files(counts=c.write("counts.csv", gzip.compress(tarred(
             "counts.csv", csv_text(c, "counts"))))),
         ("counts.csv", "gzip-compressed file holding a tar archive")),
    Case("csv_zip_two_members",
         lambda c: c.files(counts=c.write("counts.zip", zipped(
             ("counts.csv", csv_text(c, "counts")), ("notes.txt", "x")))),
         ("counts.zip", "zip archive with 2 files", "exactly one")),
    Case("csv_zstd_counts",
         lambda c: c.files(counts=c.write("counts.csv.zst", b"\x28\xb5\x2f\xfd" + bytes(40))),
         ("counts.csv.zst", "Zstandard")),
    Case("csv_truncated_xz",
         lambda c: c.files(counts=c.write("counts.csv", lzma.compress(
             csv_text(c, "counts").encode())[:60])),
         ("counts.csv", "xz-compressed", "corrupt or truncated")),
    Case("csv_truncated_bzip2_named_gz",
         lambda c: c.files(counts=c.write("counts.csv.gz", bz2.compress(
             csv_text(c, "counts").encode())[:60])),
         ("counts.csv.gz", "bzip2-compressed", "corrupt or truncated")),
    Case("csv_covariate_named_lsoa",
         lambda c: c.files(lsoa=c.csv("lsoa", c.frames["lsoa"].rename(columns={"imd": "lsoa"}))),
         ("lsoa.csv", "covariate name 'lsoa' is reserved")),
    Case("csv_implausible_la_count",
         lambda c: c.files(counts=c.csv("counts", edited(c.frames["counts"], 1, "count",
                                                          10**12))),
         ("counts.csv", "service 'cin', LA SLA0002 (line 3)", "1000000000000",
          "per child")),
    Case("csv_implausible_lsoa_count",
         lambda c: c.files(counts=c.csv("counts", edited(c.frames["counts"],
                                                          first_lsoa_count_row(c), "count",
                                                          10**7))),
         ("counts.csv", "LSOA SLS000220 in LA", "(line 7)", "per child")),

    # ------------------------------------------------------------------ arguments
    Case("arg_draws_not_a_number", lambda c: c.demo("--draws", "lots"),
         ("--draws", "expected a whole number", "'lots'")),
    # Options that set a run-config field are validated by the run config, which names the
    # option, its value and the field.
    Case("arg_chains_zero", lambda c: c.demo("--chains", "0"),
         ("--chains 0", "sampling.chains", "greater than or equal to 1")),
    Case("arg_negative_seed", lambda c: c.demo("--seed", "-1"), ("--seed",)),
    Case("arg_huge_draws", lambda c: c.demo("--draws", "1" + "0" * 12),
         ("sampling.draws", "less than or equal to 1000000")),
    Case("arg_target_accept_out_of_range", lambda c: c.demo("--target-accept", "1.5"),
         ("--target-accept 1.5", "sampling.target_accept", "less than 1")),
    Case("arg_nan_interval_prob", lambda c: c.demo("--interval-prob", "nan"),
         ("--interval-prob nan", "allocation.interval_prob")),
    Case("arg_negative_pot", lambda c: c.demo("--pot", "-5"), ("--pot", "-5")),
    Case("arg_infinite_pot", lambda c: c.demo("--pot", "inf"), ("--pot", "inf")),
    Case("arg_unknown_standardise", lambda c: c.demo("--standardise", "partial"),
         ("--standardise", "partial")),
    Case("arg_unknown_interval_kind", lambda c: c.demo("--interval-kind", "median"),
         ("--interval-kind", "median")),
    Case("arg_unknown_option", lambda c: c.demo("--frobnicate"),
         ("unrecognized arguments", "--frobnicate")),
    Case("arg_unknown_command", lambda c: ["frobnicate"], ("frobnicate",)),
    Case("arg_missing_geography_file",
         lambda c: ["fit", "--geography", c.tmp / "nope.csv", "--out", c.out],
         ("--geography", "nope.csv", "does not exist")),
    Case("arg_missing_data_dir",
         lambda c: ["fit", "--data-dir", c.tmp / "no_data", "--year", "2024", "--out", c.out],
         ("--data-dir", "no_data")),
    Case("arg_year_not_a_number",
         lambda c: ["fit", "--data-dir", c.tmp, "--year", "twenty", "--out", c.out],
         ("--year", "twenty")),
    Case("arg_out_is_a_file", lambda c: ["demo", "--scale", "tiny", "--out",
                                         c.write("taken.txt", "x")],
         ("--out", "not a directory")),
    Case("arg_sbc_zero_sims", lambda c: ["validate", "sbc", "--n-sims", "0", "--out", c.out],
         ("--n-sims", "must be >= 1")),
    Case("arg_sbc_unknown_service",
         lambda c: ["validate", "sbc", "--n-sims", "1", "--out", c.out, "--services",
                    "cin,foster_care"],
         ("--services", "foster_care")),
    Case("arg_sbc_too_few_draws_to_rank",
         lambda c: ["validate", "sbc", "--n-sims", "1", "--out", c.out, "--draws", "10",
                    "--chains", "1", "--rank-draws", "99"],
         ("n_rank_draws", "10 x 1 < 99")),
    Case("arg_sbc_unknown_la_parameterisation",
         lambda c: ["validate", "sbc", "--n-sims", "1", "--out", c.out,
                    "--la-parameterisation", "partial"],
         ("--la-parameterisation", "partial")),
    Case("arg_sbc_unknown_model",
         lambda c: ["validate", "sbc", "--model", "person", "--n-sims", "1", "--out", c.out],
         ("--model", "person")),
    Case("arg_data_dir_with_file_inputs", lambda c: [*c.files(), "--data-dir", c.tmp],
         ("--data-dir", "--geography", "would be ignored")),
    Case("arg_year_with_synthetic_data", lambda c: c.synthetic_config("", "--year", "2024"),
         ("--year", "'synthetic'", "would be ignored")),
    Case("arg_out_empty", lambda c: ["demo", "--scale", "tiny", "--out", "", *SAMPLING],
         ("--out", "empty path")),
    Case("arg_report_max_draws_one",
         lambda c: ["report", c.run("one_draw_run"), "--max-draws", "1"],
         ("--max-draws", ">= 2", "got 1")),

    # ------------------------------------------------------------------ run directories
    Case("run_json_invalid_json", lambda c: c.allocate(run_json=b'{"config": {'),
         ("run.json", "invalid JSON at line 1")),
    Case("run_json_invalid_utf8", lambda c: c.allocate(run_json=b'{"config": "\xff\xfe"}'),
         ("run.json", "not valid UTF-8")),
    Case("run_json_deeply_nested", lambda c: c.allocate(run_json=b"[" * 100_000),
         ("run.json", "nested too deeply")),
    Case("run_json_top_level_list", lambda c: c.allocate(run_json=b"[1, 2]"),
         ("run.json", "top level must be a JSON object", "list")),
    Case("run_json_config_not_an_object",
         lambda c: c.allocate(run_json=lambda run: run.update(config="tiny")),
         ("run.json", "'config' must be a JSON object", "str")),
    Case("run_json_fit_seconds_text",
         lambda c: c.allocate(run_json=lambda run: run.update(fit_seconds="slow")),
         ("run.json", "'fit_seconds' must be a number")),
    Case("fit_nc_convergence_record_garbage",
         lambda c: c.allocate(fit=set_attr(CONVERGENCE, "{not json")),
         ("fit.nc", CONVERGENCE, "not a convergence record")),
    Case("fit_nc_convergence_record_list",
         lambda c: c.allocate(fit=set_attr(CONVERGENCE, "[1.0]")),
         ("fit.nc", CONVERGENCE)),
    Case("fit_nc_config_garbage", lambda c: c.allocate(fit=set_attr(CONFIG, "{not json")),
         ("fit.nc", CONFIG, "not a JSON object")),
    Case("fit_nc_config_without_services",
         lambda c: c.allocate(fit=edit_json_attr(CONFIG, lambda cfg: cfg.pop("services"))),
         ("fit.nc", "stored config", "'services'")),
    Case("fit_nc_config_services_wrong_type",
         lambda c: c.allocate(fit=edit_json_attr(CONFIG, lambda cfg: cfg.update(services=5))),
         ("fit.nc", "stored config")),
    Case("fit_nc_posterior_variable_missing", lambda c: c.allocate(fit=drop_variable("beta")),
         ("fit.nc", "posterior variable 'beta' is missing")),
    Case("fit_nc_posterior_variable_nan", lambda c: c.allocate(fit=nan_variable("la_effect")),
         ("fit.nc", "posterior variable 'la_effect'", "NaN")),
    Case("fit_nc_posterior_services_relabelled",
         lambda c: c.allocate(fit=reversed_coordinate("service")),
         ("fit.nc", "coordinate 'service'")),
    Case("fit_nc_without_sample_stats",
         lambda c: c.allocate(fit=without_group("sample_stats")),
         ("fit.nc", "sample_stats", "divergences")),
    # The gate: a record edited to look converged is refused, naming stored and recomputed.
    Case("fit_nc_convergence_record_edited_to_pass",
         lambda c: ["allocate", c.run(fit=edit_json_attr(CONVERGENCE, looks_converged)),
                    "--out", c.out],
         ("fit.nc", "disagrees", "max R-hat: stored 1, recomputed",
          "min bulk ESS: stored 5000, recomputed")),
    Case("report_one_draw_fit", lambda c: ["report", c.run("one_draw_run")],
         ("fit.nc", "1 chain(s) x 1 draw(s)", "at least 2")),

    # ------------------------------------------------------------------ found before sampling
    Case("presample_cost_weight_missing_for_service",
         lambda c: c.synthetic_config("services = ['cin', 'cla']\n"
                                      "[allocation.cost_weights]\ncin = 1.0\n",
                                      "--allocate", "--allow-unconverged"),
         ("allocation.cost_weights", "['cla']")),
    Case("presample_baseline_file_missing",
         lambda c: c.synthetic_config("[allocation]\nbaseline = 'nowhere.csv'\n",
                                      "--allocate", "--allow-unconverged"),
         ("allocation.baseline", "nowhere.csv", "does not exist")),
    Case("presample_cost_weights_file_missing",
         lambda c: c.synthetic_config("[allocation]\ncost_weights_file = 'nowhere.nc'\n",
                                      "--allocate", "--allow-unconverged"),
         ("allocation.cost_weights_file", "nowhere.nc", "does not exist")),
    Case("presample_all_zero_exposure",
         lambda c: [*c.files(**zero_children(c)), "--allocate", "--allow-unconverged"],
         ("lsoa.csv", "'children'", "every LA")),
    Case("presample_zero_exposure_in_one_la",
         lambda c: [*c.files(**zero_children(c, [c.frames["geography"]["la_code"].iloc[0]])),
                    "--allocate", "--allow-unconverged"],
         ("lsoa.csv", "'children'", "1 LA(s)")),
    Case("presample_sensitivity_bad_baseline_in_a_variation",
         lambda c: [*c.scenarios(SCENARIO_BASE + "[base.sampling]\ndraws = 10\ntune = 10\n"
                                                 "chains = 1\n[variations.bad.allocation]\n"
                                                 "baseline = 'nowhere.csv'\n"),
                    "--workers", "1"],
         ("scenario 'bad'", "before any fit", "nowhere.csv")),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_cli_input(case: Case, tmp_path: Path, valid_frames, mocked_sampler, monkeypatch,
                       request, capsys):
    ctx = Ctx(tmp_path, {k: v.copy() for k, v in valid_frames.items()}, request)
    args = [str(a) for a in case.args(ctx)]
    capsys.readouterr()
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    sampled = []
    sample = pm.sample
    monkeypatch.setattr(pm, "sample", lambda *a, **k: sampled.append(1) or sample(*a, **k))
    code = main(args)
    out, err = capsys.readouterr()
    assert code == 2, f"exit code {code}\nstdout:\n{out}\nstderr:\n{err}"
    assert not sampled, "the input was refused only after sampling"
    assert not list(cwd.iterdir()), "files were written into the current directory"
    assert "Traceback" not in err and "Traceback" not in out
    assert "bayes-needs: error:" in err or "usage:" in err, err
    for needle in case.needles:
        assert needle in err, f"{needle!r} not in stderr:\n{err}"
    assert not (tmp_path / PWNED).exists(), "a file executed code"
    leftovers = [p for p in ctx.out.rglob("*")] if ctx.out.exists() else []
    assert not leftovers, leftovers


def test_catalogue_size_and_unique_ids():
    assert len(CASES) >= 40
    assert len({c.id for c in CASES}) == len(CASES)


# ---------------------------------------------------------------------- accepted inputs
def test_valid_inputs_fit(tmp_path, valid_frames, mocked_sampler, capsys):
    """The files the catalogue corrupts are valid, so each case fails for its own reason."""
    ctx = Ctx(tmp_path, valid_frames)
    assert main([str(a) for a in ctx.files()]) == 0, capsys.readouterr().err
    assert (ctx.out / "fit.nc").is_file()


def test_utf8_bom_inputs_are_accepted(tmp_path, valid_frames, mocked_sampler, capsys):
    """Byte-order marks (as written by Excel's "CSV UTF-8") are not an error."""
    ctx = Ctx(tmp_path, valid_frames)
    paths = {kind: ctx.csv(kind, encoding="utf-8-sig") for kind in ("geography", "lsoa",
                                                                    "counts")}
    assert all(p.read_bytes().startswith(b"\xef\xbb\xbf") for p in paths.values())
    priors = ctx.write("priors.toml", b"\xef\xbb\xbf" + PRIOR_TOML.encode("utf-8"))
    config = ctx.write("run.toml", b"\xef\xbb\xbfschema_version = 1\n[sampling]\ndraws = 10\n")
    code = main([str(a) for a in [*ctx.files(**paths), "--priors", priors, "--config",
                                  config]])
    assert code == 0, capsys.readouterr().err
    assert (ctx.out / "fit.nc").is_file()


@pytest.mark.parametrize("compression", sorted(COMPRESSIONS))
def test_compressed_inputs_are_read_by_content(compression, tmp_path, valid_frames,
                                               mocked_sampler, capsys):
    """A compressed counts file is read whatever its name says (here a plain ``.csv``)."""
    ctx = Ctx(tmp_path, valid_frames)
    counts = ctx.write("counts.csv", COMPRESSIONS[compression](csv_text(ctx, "counts")))
    assert main([str(a) for a in ctx.files(counts=counts)]) == 0, capsys.readouterr().err
    assert (ctx.out / "fit.nc").is_file()


def test_covariate_named_like_the_line_column_is_read(tmp_path, valid_frames, mocked_sampler,
                                                      capsys):
    """A covariate called ``line`` is data like any other, not the reader's line numbers."""
    ctx = Ctx(tmp_path, valid_frames)
    lsoa = ctx.csv("lsoa", ctx.frames["lsoa"].rename(columns={"imd": "line"}))
    assert main([str(a) for a in ctx.files(lsoa=lsoa)]) == 0, capsys.readouterr().err
    assert (ctx.out / "fit.nc").is_file()


#: The CLI with its address space capped, so a memory blow-up fails fast instead of
#: swapping the machine.
CAPPED_DRIVER = """
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (6_000_000_000, 6_000_000_000))
from bayes_needs.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_the_issue_alias_bomb_in_a_run_config_is_refused_in_bounded_memory(tmp_path):
    """The reported case: ~1 KB of YAML aliases nested 9 deep under ``model:`` (9**9 values
    once expanded), which merging the command-line overrides used to expand."""
    config = tmp_path / "bomb.yaml"
    config.write_text(alias_bomb("model", levels=9), encoding="utf-8")
    assert config.stat().st_size < 1_000
    process = start_cli(["fit", "--config", config, "--out", tmp_path / "out", "--draws",
                         "10"], mocked=False, driver=CAPPED_DRIVER)
    code, _, err = finish(process, timeout=600)
    assert code == 2, f"exit code {code}\n{err[-2000:]}"
    assert "Traceback" not in err
    assert str(config) in err and "aliases are expanded" in err, err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("command", [["demo", "--scale", "tiny"], ["compare"], ["validate", "sbc"]])
def test_a_negative_data_seed_is_refused_before_anything_runs(command, tmp_path, capsys):
    """Seeds are part of the API: a negative ``--data-seed`` is named, not a traceback."""
    out = tmp_path / "out"
    code, _, err = run_cli(capsys, *command, "--data-seed", "-1", "--out", out)
    assert code == 2, err
    assert "--data-seed" in err and "Traceback" not in err
    assert not out.exists()
