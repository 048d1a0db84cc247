"""Person-based runs: the fit takes every sampling setting of the run config, as an area fit
does, and the result carries the person model.
"""

from __future__ import annotations

from typing import Any

import pymc as pm
import pytest
from person_world import make_world, person_data
from sampling_mocks import mock_sampler

from bayes_needs.config.run import RunConfig
from bayes_needs.models.person import PersonDemandModel
from bayes_needs.workflows.person_pipeline import fit_person


@pytest.mark.parametrize("cores", [1, 2])
def test_fit_person_passes_every_sampling_setting(cores, monkeypatch):
    received: dict[str, Any] = {}
    sample = mock_sampler()

    def recording_sample(**kwargs: Any):
        received.update(kwargs)
        return sample(**kwargs)

    monkeypatch.setattr(pm, "sample", recording_sample)
    config = RunConfig().with_overrides(sampling={
        "draws": 12, "tune": 3, "chains": 2, "cores": cores, "random_seed": 7,
        "target_accept": 0.85, "progressbar": False})
    fit = fit_person(config, person_data(make_world()))
    assert isinstance(fit.model, PersonDemandModel)
    assert fit.config is config
    assert {key: received[key] for key in ("draws", "tune", "chains", "cores",
                                           "target_accept", "progressbar")} == {
        "draws": 12, "tune": 3, "chains": 2, "cores": cores, "target_accept": 0.85,
        "progressbar": False}
