"""LA IMD 2019 scores on the real public data, checked against the derived UTLA summary and
the published CLA rates read here with plain pandas."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bayes_needs.core.errors import ConfigError, MissingDataError
from bayes_needs.data.readers.iod_scores import IMD_SCORE, read_la_imd_scores

pytestmark = pytest.mark.realdata

SUMMARY = "iod2019/iod2019_utla23_summary_derived.csv"
PANEL = "dfe_csc/la_csc_panel_2013_2025.csv"
#: Among the most deprived upper-tier LAs on every IoD2019 summary measure.
MOST_DEPRIVED = {"E06000009": "Blackpool", "E08000011": "Knowsley",
                 "E06000002": "Middlesbrough"}


@pytest.fixture(scope="module")
def scores(data_dir):
    return read_la_imd_scores(data_dir)


def test_every_utla_has_a_finite_score_and_the_most_deprived_rank_high(scores):
    assert scores.shape[0] == 153 and scores.index.is_unique
    assert scores.index.str.match(r"^E(06|08|09|10)\d{6}$").all()
    assert np.isfinite(scores[IMD_SCORE]).all() and (scores[IMD_SCORE] > 0).all()
    assert scores["n_lsoa"].sum() == 32_844 and (scores["weight"] > 0).all()
    rank = scores[IMD_SCORE].rank(ascending=False)
    for code, name in MOST_DEPRIVED.items():
        assert scores.loc[code, "la_name"] == name
        assert rank[code] <= 10, (name, rank[code])
    assert scores.loc["E10000025", IMD_SCORE] < scores[IMD_SCORE].median()  # Oxfordshire


def test_population_weights_reproduce_the_derived_summary(data_dir, scores):
    population = read_la_imd_scores(data_dir, weight="population")
    summary = pd.read_csv(data_dir / SUMMARY).set_index("utla23cd")
    expected = summary["imd_score_popweighted"].reindex(population.index)
    np.testing.assert_allclose(population[IMD_SCORE], expected, atol=1e-4)
    np.testing.assert_allclose(population["weight"],
                               summary["pop_total_mid2015"].reindex(population.index))
    # Child and total population weights order LAs almost identically.
    assert scores[IMD_SCORE].corr(population[IMD_SCORE], method="spearman") > 0.99


def test_published_cla_rates_rise_with_the_score(data_dir, scores):
    panel = pd.read_csv(data_dir / PANEL)
    latest = panel[panel["time_period"] == 2025].set_index("new_la_code")
    rate = pd.to_numeric(latest["cla_at31_rate_per_10k_published"], errors="coerce").dropna()
    shared = rate.index.intersection(scores.index)
    assert len(shared) >= 150
    # The data README reports 0.71 with the population-weighted IMD score.
    rho = rate[shared].corr(scores.loc[shared, IMD_SCORE], method="spearman")
    assert 0.65 < rho < 0.8


def test_bad_weight_and_missing_directory_are_reported(tmp_path):
    with pytest.raises(ConfigError, match="weight"):
        read_la_imd_scores(tmp_path, weight="households")
    with pytest.raises(MissingDataError):
        read_la_imd_scores(tmp_path)
