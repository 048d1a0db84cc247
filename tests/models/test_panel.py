"""Panel model: construction, errors, mocked fits, save and load."""

from __future__ import annotations

import pytest

from bayes_needs.core.errors import ConfigError, DataHashMismatchError, PriorConfigError
from bayes_needs.models.panel import PanelDemandModel
from bayes_needs.simulate.panel import generate_panel


@pytest.fixture
def panel():
    return generate_panel(random_seed=7, n_years=6)[0]


def test_model_has_named_dims_and_fits_only_the_count_years(panel):
    model = PanelDemandModel(panel)
    pm_model = model.build_model()
    assert list(pm_model.coords["year"]) == list(model.years)
    assert model.years[-1] == panel.last_count_year
    assert pm_model.named_vars_to_dims["national_level"] == ("service", "year")
    assert pm_model.named_vars_to_dims["beta"] == ("service", "covariate")


def test_unknown_indicator_and_missing_evidence_priors_are_named(panel):
    with pytest.raises(ConfigError, match="nope"):
        PanelDemandModel(panel, {"indicators": ["nope"]})
    with pytest.raises(PriorConfigError, match="within_log_rr_per_sd"):
        PanelDemandModel(panel, {"evidence": True})
    with pytest.raises(ConfigError, match="contextual"):
        PanelDemandModel(panel, {"contextual": "yes"})


def test_mocked_fit_saves_and_reloads_with_its_data_hash(panel, tmp_path, mocked_sampler):
    model = PanelDemandModel(panel, {"contextual": False})
    idata = model.fit(random_seed=1, draws=10, tune=10, chains=2)
    path = model.save(idata, tmp_path / "fit.nc")
    again, loaded = PanelDemandModel.load(path, panel)
    assert again.config == model.config
    assert "beta_contextual" not in loaded.posterior
    other = generate_panel(random_seed=8, n_years=6)[0]
    with pytest.raises(DataHashMismatchError):
        PanelDemandModel.load(path, other)
