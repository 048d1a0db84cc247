"""Slow tests of the person model with real NUTS: the collapsed and row-level likelihoods give
the same posterior, and the model recovers a synthetic truth.

Run with ``python -m pytest -m slow -s tests/models/test_person_recovery.py`` to see the figures.
"""

from __future__ import annotations

import arviz as az
import numpy as np
import pandas as pd
import pytest
from scipy.stats import binomtest

from bayes_needs.allocation import allocate
from bayes_needs.core import dims
from bayes_needs.core.intervals import credible_interval
from bayes_needs.data.person import collapse_frame, collapse_frames
from bayes_needs.data.person.design import PersonModelData
from bayes_needs.models.person import HYPERPARAMETERS, PersonDemandModel
from bayes_needs.need.person import expected_need
from bayes_needs.simulate.area import generate_area
from bayes_needs.simulate.person import generate_persons

SERVICES = ("cin", "cla")


@pytest.mark.slow
def test_collapsed_and_row_level_posteriors_agree_within_monte_carlo_error():
    synthetic = generate_area("tiny", random_seed=21, services=SERVICES)
    persons = generate_persons(synthetic, random_seed=22)
    records = pd.concat(list(persons.chunks()), ignore_index=True)
    posts = {}
    for name, keep_rows in (("collapsed", False), ("row_level", True)):
        cells = collapse_frame(records, synthetic.data.geography, services=SERVICES,
                               covariates=["fsm"], keep_rows=keep_rows)
        model = PersonDemandModel(PersonModelData.build(cells, synthetic.data.covariates),
                                  {"row_level": keep_rows})
        posts[name] = model.fit(random_seed=5, draws=500, tune=500, chains=2,
                                progressbar=False).posterior
    z_all = []
    for var in (v for v in HYPERPARAMETERS if v in posts["collapsed"]):
        mean = {k: p[var].mean((dims.CHAIN, dims.DRAW)).to_numpy().ravel()
                for k, p in posts.items()}
        mcse = {k: az.mcse(p[[var]])[var].to_numpy().ravel() for k, p in posts.items()}
        z_all += list(np.abs(mean["collapsed"] - mean["row_level"])
                      / np.sqrt(mcse["collapsed"] ** 2 + mcse["row_level"] ** 2))
    z_all = np.asarray(z_all)
    print(f"max |z| of posterior mean differences over {len(z_all)} components: "
          f"{z_all.max():.2f}")
    # Same posterior: differences are Monte Carlo noise (|z| > 4 has p ~ 6e-5 each).
    assert z_all.max() < 4.0


@pytest.mark.slow
def test_person_model_recovers_child_effects_and_true_shares():
    hits, gamma_hits = [], []
    for seed in (31, 32):
        synthetic = generate_area("region", random_seed=seed)
        persons = generate_persons(synthetic, random_seed=seed + 1)
        cells = collapse_frames(persons.chunks(), synthetic.data.geography,
                                services=synthetic.data.services, covariates=["fsm"])
        data = PersonModelData.build(cells, synthetic.data.covariates, persons.population)
        model = PersonDemandModel(data)
        idata = model.fit(random_seed=seed, draws=600, tune=600, chains=2, progressbar=False)
        need = expected_need(model, idata, random_seed=seed)["need"]
        share = allocate(need, synthetic.truth["unit_cost"]).draws["share"]
        lower, upper = credible_interval(share, interval_prob=0.9, interval_kind="eti")
        truth = synthetic.truth["needs_share"].sel({dims.LA: share[dims.LA].values})
        hits += list(((lower <= truth) & (truth <= upper)).to_numpy())
        # FSM relative risk: the synthetic truth's gamma_fsm[Y].
        fsm = idata.posterior["gamma"].sel({dims.CHILD_TERM: "fsm=Y"})
        lo, hi = credible_interval(fsm, interval_prob=0.9, interval_kind="eti")
        true_fsm = persons.truth["gamma_fsm"].sel({dims.FSM: "Y"})
        gamma_hits += list(((lo <= true_fsm) & (true_fsm <= hi)).to_numpy())
    k, n = int(np.sum(hits)), len(hits)
    print(f"true needs shares inside 90% intervals: {k}/{n}; FSM effect inside: "
          f"{int(np.sum(gamma_hits))}/{len(gamma_hits)}")
    assert binomtest(k, n, 0.9).pvalue > 0.01
    assert np.mean(gamma_hits) >= 0.5
