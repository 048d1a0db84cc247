"""Prior declarations (bayes_needs.config.prior_specs): each model variable's dims and support
are declared once, the models build exactly those dims, and every prior is checked against
them (dims and support from the file, parameter lengths from the data) before anything is
built.
"""

from __future__ import annotations

import pytest
from area_fits import tiny_area_data
from hypothesis import given, settings
from hypothesis import strategies as st
from person_world import make_world, person_data

from bayes_needs.config.prior_specs import (
    AREA_PRIORS,
    COST_WEIGHT_PRIORS,
    PANEL_PRIORS,
    PERSON_PRIORS,
)
from bayes_needs.config.priors import (
    check_prior_shapes,
    default_prior_config,
    parse_priors,
    resolve_priors,
)
from bayes_needs.config.run import parse_run_config
from bayes_needs.core.errors import ConfigFileError, PriorConfigError
from bayes_needs.models.area import AreaDemandModel
from bayes_needs.models.panel import PanelDemandModel
from bayes_needs.models.person import PersonDemandModel
from bayes_needs.simulate.panel import generate_panel

SERVICE, SERVICE_COVARIATE = ["service"], ["service", "covariate"]


def prior(dist: str, dims=None, **kwargs) -> dict:
    spec = {"dist": dist, "kwargs": kwargs}
    if dims is not None:
        spec["dims"] = dims
    return spec


def check(priors: dict, declared=AREA_PRIORS):
    return parse_priors({"schema_version": 1, "priors": priors}, source="my.toml",
                        expected=declared)


@pytest.mark.parametrize("name, declared", [
    ("area", AREA_PRIORS), ("person", PERSON_PRIORS), ("panel", PANEL_PRIORS),
    ("panel_literature", PANEL_PRIORS), ("cost_weights", COST_WEIGHT_PRIORS)])
def test_every_packaged_prior_file_meets_its_models_declarations(name, declared):
    built = parse_priors(default_prior_config(name), source=name, expected=declared)
    assert built
    for variable, spec in built.items():
        assert tuple(spec.dims or ()) == declared[variable].dims, variable


@pytest.mark.parametrize("make, declared", [
    (lambda: AreaDemandModel(tiny_area_data()), AREA_PRIORS),
    (lambda: PersonDemandModel(person_data(make_world()),
                               {"family": "negbin", "lsoa_effects": True}), PERSON_PRIORS),
    (lambda: PanelDemandModel(generate_panel(random_seed=7, n_years=4)[0]), PANEL_PRIORS),
], ids=["area", "person", "panel"])
def test_models_build_every_prior_variable_with_its_declared_dims(make, declared):
    """The declarations are the models' own: each variable a prior creates has those dims."""
    model = make()
    built = model.build_model()
    created = [name for name in declared if name in built.named_vars
               and not declared[name].plain and declared[name].distributions is None]
    assert len(created) >= 4
    for name in created:
        assert tuple(built.named_vars_to_dims.get(name) or ()) == declared[name].dims, name


# ---------------------------------------------------------------------- refused priors
@pytest.mark.parametrize("priors, declared, needles", [
    ({"beta": prior("Normal", ["covariate", "service"], mu=0, sigma=1)}, AREA_PRIORS,
     ("priors.beta.dims", "['service', 'covariate']", "order matters")),
    ({"beta": prior("Normal", SERVICE, mu=0, sigma=1)}, AREA_PRIORS,
     ("priors.beta.dims", "['service', 'covariate']", "got ['service']")),
    ({"intercept": prior("Normal", ["service", "la"], mu=-4, sigma=2)}, AREA_PRIORS,
     ("priors.intercept.dims", "must have dims ['service']")),
    ({"sigma_la": prior("HalfNormal", sigma=1)}, AREA_PRIORS,
     ("priors.sigma_la.dims", "got []")),
    ({"lsoa_dispersion": prior("Normal", SERVICE, mu=0, sigma=1)}, AREA_PRIORS,
     ("priors.lsoa_dispersion.dist", "positive values", "Normal gives any real value",
      "HalfNormal")),
    ({"msoa_cv": prior("Uniform", SERVICE, lower=-1, upper=2)}, AREA_PRIORS,
     ("priors.msoa_cv.dist", "from -1 to 2")),
    ({"sigma_la": prior("Poisson", SERVICE, mu=2)}, AREA_PRIORS,
     ("priors.sigma_la", "discrete")),
    ({"la_corr": prior("HalfNormal", sigma=2)}, AREA_PRIORS, ("priors.la_corr.dist", "LKJCorr")),
    ({"sigma_la": prior("HalfNormal", SERVICE, sigma=prior("Normal", mu=0, sigma=1))},
     AREA_PRIORS, ("priors.sigma_la.kwargs.sigma", "must be positive")),
    ({"sigma_la": {**prior("Normal", SERVICE, mu=0, sigma=1), "transform": "log"}},
     AREA_PRIORS, ("priors.sigma_la.transform", "unknown transform 'log'")),
    ({"sigma_la": prior("Gamma", SERVICE, alpha=2.0)}, AREA_PRIORS,
     ("priors.sigma_la", "PyMC cannot build Gamma")),
    ({"rho": prior("Normal", SERVICE, mu=0, sigma=1)}, PANEL_PRIORS,
     ("priors.rho.dist", "between -1 and 1")),
    ({"policy_share": prior("Beta", alpha=prior("HalfNormal", sigma=1), beta=2)}, PANEL_PRIORS,
     ("priors.policy_share", "as numbers", "not supported")),
    ({"intercept": {**prior("Normal", SERVICE, mu=-4, sigma=2), "transform": "exp"}},
     PANEL_PRIORS, ("priors.intercept", "not supported")),
    ({"spend_sigma": prior("HalfNormal", SERVICE, sigma=1)}, COST_WEIGHT_PRIORS,
     ("priors.spend_sigma.dims", "['category']")),
    ({"beta": prior("Normal", SERVICE_COVARIATE, mu=0,
                    sigma=prior("HalfNormal", sigma=[[1.0], [1.0, 2.0]]))}, AREA_PRIORS,
     ("priors.beta.kwargs.sigma.kwargs.sigma", "rectangular")),
])
def test_priors_that_do_not_fit_the_model_are_refused(priors, declared, needles):
    with pytest.raises(PriorConfigError) as info:
        check(priors, declared)
    message = str(info.value)
    assert message.startswith("my.toml")
    for needle in needles:
        assert needle in message, message


def test_every_problem_is_reported_at_once():
    with pytest.raises(PriorConfigError) as info:
        check({"beta": prior("Normal", ["covariate", "service"], mu=0, sigma=1),
               "lsoa_dispersion": prior("Normal", SERVICE, mu=0, sigma=1),
               "intercept": prior("Normal", ["la"], mu=0, sigma=1)})
    assert len(info.value.problems) == 3


SIGMA_YEAR = {**prior("Normal", SERVICE, mu=prior("Normal", mu=-3.5, sigma=1.0),
                      sigma=prior("HalfNormal", sigma=0.5)), "centered": False}


@pytest.mark.parametrize("name, good, bad, declared", [
    ("sigma_la", prior("HalfNormal", "service", sigma=0.3),  # dims as text
     prior("HalfNormal", "la", sigma=0.3), AREA_PRIORS),
    ("lsoa_dispersion", prior("Uniform", SERVICE, lower=0, upper=50),
     prior("Uniform", SERVICE, lower=-1, upper=50), AREA_PRIORS),
    ("lsoa_dispersion", {**prior("Normal", SERVICE, mu=1, sigma=1), "transform": "exp"},
     prior("Normal", SERVICE, mu=1, sigma=1), AREA_PRIORS),
    ("msoa_cv", prior("Gamma", SERVICE, mu=0.3, sigma=0.1),
     prior("Gamma", [], mu=0.3, sigma=0.1), AREA_PRIORS),
    # panel.toml's sigma_year: positive through its transform, not its distribution.
    ("sigma_year", {**SIGMA_YEAR, "transform": "exp"}, SIGMA_YEAR, PANEL_PRIORS),
    ("rho", prior("Uniform", SERVICE, lower=-1, upper=1),
     prior("Uniform", SERVICE, lower=-2, upper=1), PANEL_PRIORS),
    ("policy_share", prior("LogitNormal", mu=0, sigma=1), prior("Normal", mu=0, sigma=1),
     PANEL_PRIORS),
    ("log_loading", prior("ZeroSumNormal", SERVICE, sigma=0.3),
     prior("ZeroSumNormal", SERVICE_COVARIATE, sigma=0.3), PANEL_PRIORS),
], ids=["dims-text", "uniform", "transform", "gamma-dims", "nested-transform", "rho",
        "logitnormal", "zerosum"])
def test_a_prior_on_the_declared_dims_and_support_is_accepted_and_a_near_miss_refused(
        name, good, bad, declared):
    assert set(check({name: good}, declared)) == {name}
    with pytest.raises(PriorConfigError, match=rf"priors\.{name}"):
        check({name: bad}, declared)


def test_inline_run_config_priors_are_checked_against_the_model_of_the_data_source():
    rho = {"rho": prior("Beta", SERVICE, alpha=3, beta=1.5)}
    config = parse_run_config({"data": {"source": "synthetic_panel"}, "priors": rho})
    assert config.priors == rho
    with pytest.raises(ConfigFileError, match=r"priors\.rho: not a variable"):
        parse_run_config({"data": {"source": "synthetic"}, "priors": rho})
    with pytest.raises(ConfigFileError, match=r"priors\.beta\.dims"):
        parse_run_config({"priors": {"beta": prior("Normal", ["covariate", "service"],
                                                   mu=0, sigma=1)}})


# ---------------------------------------------------------------------- lengths from the data
COORDS = {"service": ["cin", "cla"], "covariate": ["idaci", "imd", "x"], "la": ["E1", "E2"]}


@pytest.mark.parametrize("name, spec, needles", [
    ("intercept", prior("Normal", SERVICE, mu=[-4.0, -4.0, -4.0], sigma=2),
     ("priors.intercept.kwargs.mu", "3 values", "service (2)", "['cin', 'cla']")),
    ("beta", prior("Normal", SERVICE_COVARIATE, mu=[0.0, 0.0], sigma=1),
     ("priors.beta.kwargs.mu", "one per covariate")),
    ("beta", prior("Normal", SERVICE_COVARIATE, mu=0, sigma=prior("HalfNormal", SERVICE,
                                                                  sigma=[1, 1, 1])),
     ("priors.beta.kwargs.sigma.kwargs.sigma", "3 values")),
    ("la_corr", prior("LKJCorr", eta=[2.0, 2.0]), ("priors.la_corr.kwargs.eta",
                                                   "a single value")),
])
def test_parameter_lists_must_fit_the_dims_lengths(name, spec, needles):
    priors = check({name: spec})
    with pytest.raises(PriorConfigError) as info:
        check_prior_shapes(priors, AREA_PRIORS, COORDS, source="my.toml")
    for needle in needles:
        assert needle in str(info.value), str(info.value)


def test_parameter_lists_that_fit_or_broadcast_are_accepted():
    priors = check({"intercept": prior("Normal", SERVICE, mu=[-4.0, -5.0], sigma=2),
                    "beta": prior("Normal", SERVICE_COVARIATE, mu=[0.5, 0.5, 0.0], sigma=1),
                    "sigma_la": prior("HalfNormal", SERVICE, sigma=[0.5, 0.3])})
    check_prior_shapes(priors, AREA_PRIORS, COORDS)
    # A variable over an empty dim is not created, so its lengths do not matter.
    check_prior_shapes(priors, AREA_PRIORS, {**COORDS, "covariate": []})
    with pytest.raises(PriorConfigError, match=r"priors\.beta\.kwargs\.mu"):
        check_prior_shapes(priors, AREA_PRIORS, {**COORDS, "covariate": ["idaci", "imd"]})


def test_a_model_refuses_a_wrong_length_before_it_is_built():
    data = tiny_area_data()
    n = len(data.services) + 1
    with pytest.raises(PriorConfigError, match=r"priors\.intercept\.kwargs\.mu"):
        AreaDemandModel(data, priors={"intercept": prior("Normal", SERVICE, mu=[-4.0] * n,
                                                         sigma=2.0)})


def test_a_model_refuses_swapped_dims_before_it_is_built():
    with pytest.raises(PriorConfigError, match=r"priors\.beta\.dims"):
        AreaDemandModel(tiny_area_data(), priors={
            "beta": prior("Normal", ["covariate", "service"], mu=0.0, sigma=1.0)})


def test_resolve_priors_with_declarations_checks_the_overrides():
    with pytest.raises(PriorConfigError, match="lsoa_dispersion"):
        resolve_priors("area", {"lsoa_dispersion": prior("Normal", SERVICE, mu=0, sigma=1)},
                       AREA_PRIORS)


# ---------------------------------------------------------------------- random priors
NUMBERS = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-3, 3),
                    st.lists(st.floats(-5, 5), max_size=4),
                    st.lists(st.lists(st.floats(0.1, 5), max_size=3), max_size=3))
ODD = st.one_of(st.none(), st.booleans(), st.text(max_size=5), st.lists(st.text(max_size=3)))


def prior_dicts(depth: int = 0):
    kwargs = st.dictionaries(
        st.sampled_from(["mu", "sigma", "alpha", "beta", "lower", "upper", "eta", "nu", "lam",
                         "tau", "c"]),
        st.one_of(NUMBERS, ODD, prior_dicts(depth + 1)) if depth < 2 else NUMBERS,
        max_size=3)
    return st.fixed_dictionaries(
        {"dist": st.one_of(st.sampled_from(["Normal", "HalfNormal", "Gamma", "Beta",
                                            "Uniform", "LogNormal", "LKJCorr", "Poisson",
                                            "ZeroSumNormal", "StudentT", "TruncatedNormal",
                                            "Exponential", "LogitNormal"]), ODD),
         "kwargs": kwargs},
        optional={"dims": st.one_of(st.lists(st.sampled_from(["service", "covariate", "la",
                                                              "ward"]), max_size=3), ODD),
                  "transform": st.one_of(st.sampled_from(["exp", "sigmoid", "log"]), ODD),
                  "centered": st.one_of(st.booleans(), ODD)})


@settings(max_examples=100, deadline=None)
@given(name=st.sampled_from([*sorted(AREA_PRIORS), "gamma"]), spec=prior_dicts())
def test_random_priors_are_accepted_or_refused_cleanly(name, spec):
    try:
        priors = check({name: spec})
    except PriorConfigError as exc:
        assert all(p.startswith("priors.") for p in exc.problems), exc.problems
        return
    assert tuple(priors[name].dims or ()) == AREA_PRIORS[name].dims
    try:
        check_prior_shapes(priors, AREA_PRIORS, COORDS)
    except PriorConfigError:
        pass
