"""Library warnings filtered where they arise; ours and other modules' are still shown."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings

from bayes_needs.core import library_warnings

NAN_DOT = "import numpy as np; np.array([np.inf]).dot(np.array([0.0]))"


def _shown(message: str, category: type[Warning], module: str) -> bool:
    """Whether a warning issued from ``module`` gets through the current filters."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.warn_explicit(message, category, f"{module.replace('.', '/')}.py", 1,
                               module=module, registry={})
    return bool(caught)


def test_arviz_notice_hidden_but_the_same_text_elsewhere_shown():
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        library_warnings.install()
        notice = "\nArviZ is undergoing a major refactor to improve flexibility"
        assert not _shown(notice, FutureWarning, "arviz")
        assert _shown(notice, FutureWarning, "bayes_needs.core.idata")
        assert _shown("something else", FutureWarning, "arviz")


def test_sampling_filters_hide_nan_warnings_of_the_sampler_only_while_sampling():
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        dot = "invalid value encountered in dot"
        with library_warnings.sampling_filters():
            assert not _shown(dot, RuntimeWarning, "pymc.step_methods.hmc.quadpotential")
            assert not _shown("invalid value encountered in accumulate", RuntimeWarning,
                              "numpy._core.fromnumeric")
            assert _shown(dot, RuntimeWarning, "bayes_needs.need.area")
            assert _shown("divide by zero encountered in log", RuntimeWarning, "pymc.math")
        assert _shown(dot, RuntimeWarning, "pymc.step_methods.hmc.quadpotential")


def _forked_child_shows(message: str, module: str) -> bool:
    """Whether a process forked now (as PyMC's default Linux workers are) shows a warning."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os._exit(int(_shown(message, RuntimeWarning, module)))
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 1


def test_workers_started_while_sampling_get_the_filters():
    before = os.environ.get("PYTHONWARNINGS")
    dot, module = "invalid value encountered in dot", "pymc.step_methods.hmc.nuts"
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        with library_warnings.sampling_filters():
            # A new interpreter (as PyMC's spawn/forkserver workers are) ...
            quiet = subprocess.run([sys.executable, "-c", NAN_DOT], capture_output=True,
                                   text=True, check=True)
            # ... and a forked one get them.
            assert not _forked_child_shows(dot, module)
        assert _forked_child_shows(dot, module)
    assert "RuntimeWarning" not in quiet.stderr
    assert os.environ.get("PYTHONWARNINGS") == before
    loud = subprocess.run([sys.executable, "-c", NAN_DOT], capture_output=True, text=True,
                          check=True)
    assert "RuntimeWarning: invalid value encountered in dot" in loud.stderr
