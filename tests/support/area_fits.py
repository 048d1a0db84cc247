"""Area-model test helpers shared by tests/models/test_area.py and tests/need/test_area.py:
the synthetic data, an LA hidden from the data, fixed rates computed directly, and one mocked
fit (prior draws stand in for MCMC).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from arviz import InferenceData
from sampling_mocks import patched_sample

from bayes_needs.core import dims
from bayes_needs.data.area import AreaData
from bayes_needs.data.covariates import standardise
from bayes_needs.models.area import AreaDemandModel
from bayes_needs.simulate.area import generate_area

SERVICES = ("cin", "cla")


def tiny_area_data() -> AreaData:
    """Synthetic tiny England (seed 3) with LSOA, MSOA and LA returns for every service."""
    data = generate_area("tiny", random_seed=3, services=SERVICES).data
    levels = data.observation_level
    for service in SERVICES:  # preconditions the likelihood tests rely on
        assert {dims.LSOA, dims.MSOA, dims.LA} <= set(levels[service])
    return data


def hide_la(data: AreaData, la_code: str) -> AreaData:
    """``data`` without any observation in the LA ``la_code``."""
    geo, obs = data.geography, data.observations
    la_of_row = np.empty(len(obs), dtype=np.int64)
    for level in dims.LEVELS:
        rows = (obs["level"] == level).to_numpy()
        pos = geo.position(level, obs.loc[rows, "area_code"].to_numpy())
        la_of_row[rows] = geo.parent_index(level, dims.LA)[pos]
    keep = la_of_row != geo.position(dims.LA, [la_code])[0]
    return AreaData(geo, data.covariates, data.exposure,
                    obs[keep].reset_index(drop=True), data.services, data.year, data.source)


def with_counts(data: AreaData, observations: pd.DataFrame) -> AreaData:
    """``data`` with its observation table replaced."""
    return AreaData(data.geography, data.covariates, data.exposure, observations,
                    data.services, data.year, data.source)


def fixed_rates(data: AreaData, intercept: np.ndarray, beta: np.ndarray | None) -> np.ndarray:
    """(lsoa, service) fixed part ``E_i exp(intercept_s + z_i . beta_s)``, computed directly."""
    eta = np.broadcast_to(intercept[None, :], (data.geography.n_lsoa, len(intercept)))
    if beta is not None:
        z = standardise(data.covariates)[0].to_numpy()
        eta = eta + z @ beta.T
    return data.exposure[:, None] * np.exp(eta)


def hidden_la_fit(data: AreaData) -> tuple[AreaDemandModel, InferenceData, str]:
    """A mocked fit (2 chains x 20 draws, seed 1) on ``data`` with its first LA hidden.

    Returns the model, the fit and the hidden LA's code.
    """
    hidden = str(data.geography.la_codes[0])
    hidden_data = hide_la(data, hidden)
    assert (hidden_data.observation_level.loc[hidden] == dims.NONE).all()
    area = AreaDemandModel(hidden_data)
    with patched_sample():
        idata = area.fit(random_seed=1, draws=20, chains=2, progressbar=False)
    return area, idata, hidden
