"""Tests of the helpers the model classes share."""

import pytest

from bayes_needs.core.errors import ConfigError
from bayes_needs.models.base import chosen_covariates

AVAILABLE = ("income", "idaci", "health")


def test_chosen_covariates_defaults_to_all_available():
    assert chosen_covariates(None, AVAILABLE, "covariate") == AVAILABLE


def test_chosen_covariates_keeps_the_order_asked_for():
    assert chosen_covariates(["health", "income"], AVAILABLE, "covariate") == \
        ("health", "income")


def test_unknown_covariate_is_named_with_the_available_ones():
    with pytest.raises(ConfigError, match=r"indicator\(s\) \['crime'\].*available: "
                                          r"\['income', 'idaci', 'health'\]"):
        chosen_covariates(["income", "crime"], AVAILABLE, "indicator")
