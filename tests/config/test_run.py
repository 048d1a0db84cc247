"""Run-config validation."""

from __future__ import annotations

import pytest

from bayes_needs.config.run import load_run_config
from bayes_needs.core.errors import ConfigFileError


def test_an_empty_services_list_is_refused_not_taken_as_the_default(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text('schema_version = 1\n[data]\nsource = "synthetic_panel"\nservices = []\n')
    with pytest.raises(ConfigFileError, match=r"data\.services"):
        load_run_config(path)


@pytest.mark.parametrize("section, value, needles", [
    ("data", '"imd_score"', ("data.covariates", "got the text 'imd_score'",
                             "covariates = ['imd_score']")),
    ("data", "[]", ("data.covariates", "empty list", "model.covariates = []")),
    ("data", "5", ("data.covariates", "got int 5")),
    ("data", '["idaci", "idaci"]', ("data.covariates", "more than once")),
    ("model", '"imd_score"', ("model: covariates", "got the text 'imd_score'")),
    ("model", "5", ("model: covariates", "got int 5")),
    ("model", "[1]", ("model: covariates", "got entries [1]")),
])
def test_covariates_must_be_a_list_of_names(tmp_path, section, value, needles):
    path = tmp_path / "run.toml"
    path.write_text(f'schema_version = 1\n[{section}]\ncovariates = {value}\n')
    with pytest.raises(ConfigFileError) as info:
        load_run_config(path)
    assert str(path) in str(info.value)
    for needle in needles:
        assert needle in str(info.value), str(info.value)


def test_an_empty_list_of_covariates_means_none_in_the_model_and_is_refused_as_data(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text('schema_version = 1\n[model]\ncovariates = []\n[data]\n'
                    'covariates = ["idaci"]\nservices = ["cin"]\n')
    config = load_run_config(path)
    assert config.model["covariates"] == [] and config.data.covariates == ["idaci"]
    path.write_text(path.read_text().replace('["idaci"]', "[]"))
    with pytest.raises(ConfigFileError, match=r"data\.covariates: covariates is an empty list"):
        load_run_config(path)


def test_services_given_as_text_is_refused(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text('schema_version = 1\n[data]\nservices = "cin"\n')
    with pytest.raises(ConfigFileError, match=r"data\.services: services must be a list"):
        load_run_config(path)


def test_the_sampling_method_defaults_to_nuts_and_takes_laplace(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text("schema_version = 1\n")
    assert load_run_config(path).sampling.method == "nuts"
    path.write_text('schema_version = 1\n[sampling]\nmethod = "laplace"\n')
    assert load_run_config(path).sampling.method == "laplace"
    path.write_text('schema_version = 1\n[sampling]\nmethod = "vi"\n')
    with pytest.raises(ConfigFileError, match=r"sampling\.method.*'nuts' or 'laplace'"):
        load_run_config(path)
