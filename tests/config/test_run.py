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
