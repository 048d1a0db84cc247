"""Model configs (bayes_needs.config.models): every mistake is a ConfigError naming the option,
the stored form (``to_dict``) is exactly the mapping fits have always stored, and configs
round-trip, compare and hash by value.
"""

from __future__ import annotations

import json

import pytest

from bayes_needs.config.models import (
    AreaModelConfig,
    PanelModelConfig,
    PersonModelConfig,
    check_names,
    check_standardisation,
)
from bayes_needs.core.errors import ConfigError

#: What a fit stored for the default configs before they became pydantic models.
STORED_AREA_DEFAULT = {"family": "negbin", "la_effects": True, "msoa_effects": True,
                       "correlated_la": False, "covariates": None,
                       "la_parameterisation": "adaptive"}
STORED_PERSON_DEFAULT = {"family": "poisson", "la_effects": True, "msoa_effects": True,
                         "lsoa_effects": False, "covariates": None,
                         "la_parameterisation": "adaptive", "row_level": False,
                         "quadrature_nodes": 20}


def test_stored_form_of_the_defaults_is_unchanged():
    assert AreaModelConfig().to_dict() == STORED_AREA_DEFAULT
    assert PersonModelConfig().to_dict() == STORED_PERSON_DEFAULT
    # Fits store the mapping as sorted-key JSON; covariates are a JSON list.
    stored = json.dumps(AreaModelConfig(covariates=("idaci", "imd")).to_dict(), sort_keys=True)
    assert stored == json.dumps({**STORED_AREA_DEFAULT, "covariates": ["idaci", "imd"]},
                                sort_keys=True)


@pytest.mark.parametrize("cls", [AreaModelConfig, PersonModelConfig])
def test_round_trip_equality_and_hash(cls):
    config = cls(family="poisson", la_effects=False, covariates=["idaci"])
    assert config.covariates == ("idaci",)
    again = cls.from_dict(json.loads(json.dumps(config.to_dict())))
    assert again == config and hash(again) == hash(config)
    assert again != cls()
    assert cls.from_dict(None) == cls() == cls.from_dict({})


@pytest.mark.parametrize("cls", [AreaModelConfig, PersonModelConfig])
def test_configs_are_frozen(cls):
    config = cls()
    with pytest.raises(Exception, match="frozen"):
        config.family = "poisson"  # type: ignore[misc]
    assert config.family == cls().family


@pytest.mark.parametrize(("cls", "options", "message"), [
    (AreaModelConfig, {"family": "zip"}, "family must be 'negbin' or 'poisson', got 'zip'"),
    (AreaModelConfig, {"la_effects": "yes"}, "la_effects must be true or false, got 'yes'"),
    (AreaModelConfig, {"msoa_effects": 1}, "msoa_effects must be true or false, got 1"),
    (AreaModelConfig, {"correlated_la": True, "la_effects": False},
     "correlated_la needs la_effects = true"),
    (AreaModelConfig, {"la_parameterisation": "half"}, "la_parameterisation must be one of"),
    (AreaModelConfig, {"colour": 1}, "unknown area model option(s) ['colour']"),
    (PersonModelConfig, {"family": "zip"}, "family must be one of"),
    (PersonModelConfig, {"row_level": "no"}, "row_level must be true or false"),
    (PersonModelConfig, {"family": "bernoulli", "lsoa_effects": True},
     "lsoa_effects are only available for the count families"),
    (PersonModelConfig, {"quadrature_nodes": 0}, "quadrature_nodes must be a whole number"),
    (PersonModelConfig, {"quadrature_nodes": True}, "quadrature_nodes must be a whole number"),
    (PersonModelConfig, {"quadrature_nodes": 12.0}, "quadrature_nodes must be a whole number"),
    (PersonModelConfig, {"colour": 1}, "unknown person model option(s) ['colour']"),
])
def test_mistakes_raise_config_error_with_the_message(cls, options, message):
    with pytest.raises(ConfigError) as info:
        cls.from_dict(options)
    assert message in str(info.value)


def test_constructor_raises_config_error_too():
    with pytest.raises(ConfigError, match="family"):
        AreaModelConfig(family="zip")
    with pytest.raises(ConfigError, match="covariates"):
        AreaModelConfig(covariates=[1, 2])


def test_checks_see_defaults_of_options_not_given():
    # correlated_la is checked against the default la_effects (true), so this is valid ...
    assert AreaModelConfig(correlated_la=True).correlated_la
    # ... and lsoa_effects against the default family (poisson).
    assert PersonModelConfig(lsoa_effects=True).lsoa_effects


def test_check_standardisation():
    for value in ("la", "none", "all"):
        check_standardisation(value)
    with pytest.raises(ConfigError, match="standardise must be 'la', 'none' or 'all'"):
        check_standardisation("lsoa")


# ---------------------------------------------------------------------- lists of names
@pytest.mark.parametrize("cls, key", [(AreaModelConfig, "covariates"),
                                      (PersonModelConfig, "covariates"),
                                      (PanelModelConfig, "indicators")])
@pytest.mark.parametrize("value, message", [
    ("imd_score", "covariates must be a list of names, got the text 'imd_score'; write "
                  "covariates = ['imd_score']"),
    ("idaci, imd", "write covariates = ['idaci', 'imd']"),
    (5, "covariates must be a list of names, got int 5"),
    ({"idaci": 1}, "covariates must be a list of names, got dict"),
    (["idaci", 3], "covariates must be a list of names (text), got entries [3]"),
    (["idaci", " "], "got entries [' ']"),
    (["idaci", "idaci"], "covariates lists ['idaci'] more than once"),
])
def test_lists_of_names_are_validated_naming_the_key(cls, key, value, message):
    with pytest.raises(ConfigError) as info:
        cls.from_dict({key: value})
    assert message.replace("covariates", key) in str(info.value)


@pytest.mark.parametrize("cls, key", [(AreaModelConfig, "covariates"),
                                      (PanelModelConfig, "indicators")])
def test_an_empty_list_of_names_means_a_model_without_covariates(cls, key):
    assert getattr(cls.from_dict({key: []}), key) == ()
    assert getattr(cls.from_dict({key: None}), key) is None  # None: all in the data
    assert check_names(("a", "b"), key) == ("a", "b")
    with pytest.raises(ConfigError, match="empty list"):
        check_names([], key)
