"""How an approximate fit's record says which approximation made it."""

from __future__ import annotations

import json

import pytest

from bayes_needs.core.convergence import (
    approximation_summary,
    describe_method,
    inference_record,
)


def record(**variant):
    return approximation_summary(method="laplace", pareto_k=0.314, importance_ess=612.4,
                                 n_chains=2, n_draws=500, **variant)


def test_a_plain_laplace_fit_is_described_as_before():
    assert describe_method(record()) == \
        "laplace (approximate; PSIS k̂ = 0.31, importance ESS 612 of 1000)"
    assert inference_record(record())["variant"] == "gaussian"


def test_a_nested_fit_names_its_hyperparameter_points():
    nested = record(variant="nested", hyper_points=45)
    assert describe_method(nested) == ("laplace (approximate, nested over 45 hyperparameter "
                                       "points; PSIS k̂ = 0.31, importance ESS 612 of 1000)")
    shown = inference_record(nested)
    assert (shown["variant"], shown["hyper_points"]) == ("nested", 45)
    # run.json and netCDF attributes hold it as plain JSON.
    assert json.loads(json.dumps(shown))["inference"] == shown["inference"]


@pytest.mark.parametrize("stored", [{}, {"variant": "gaussian", "hyper_points": 0}])
def test_a_record_written_before_the_variant_existed_reads_as_the_plain_gaussian(stored):
    old = {key: value for key, value in record().items()
           if key not in ("variant", "hyper_points")} | stored
    assert describe_method(old).startswith("laplace (approximate;")
    assert inference_record(old)["hyper_points"] == 0
