"""Library warnings that tell a user of ``bayes_needs`` nothing they can act on, filtered at source.

Each filter names the warning's category, a message pattern and the library module that
issues it, so nothing else is hidden: not the same message from elsewhere, and never a
warning of ``bayes_needs`` itself.

* :func:`install` runs when ``bayes_needs`` is imported, which is before any of its modules
  imports ArviZ, and hides ArviZ's import-time notice.
* :func:`sampling_filters` is in effect only while NUTS samples (``models/sampling.py``),
  in this process and in PyMC's chain workers. Forked workers (PyMC's default on Linux)
  inherit this process's filters; workers started with ``spawn`` or ``forkserver`` begin
  afresh, so the same filters also go into ``PYTHONWARNINGS`` while they start (that
  variable cannot match a module by pattern, so there they carry category and message only).
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Iterator

#: (category, message regex, module regex) of a library warning.
Filter = tuple[type[Warning], str, str]

#: Filtered in every process that imports ``bayes_needs``.
LIBRARY_WARNINGS: tuple[Filter, ...] = (
    # Issued by ``import arviz`` once a day: about ArviZ's next major version, not this run.
    (FutureWarning, r"\s*ArviZ is undergoing a major refactor", r"arviz(\..*)?$"),
)

#: Filtered while NUTS samples. Benign: when a trajectory tried during tuning runs far out,
#: exp() overflows, the gradient holds inf and inf * 0 gives NaN, in the momentum dot products
#: of PyMC's NUTS (the energy and U-turn checks) and in cumulative sums of PyTensor ops
#: (``np.cumsum``, which NumPy's ``fromnumeric`` reports). PyMC rejects such a point as a
#: non-finite energy, and counts a divergence after tuning, which our convergence gate
#: reports; the start point is checked to be finite before sampling.
SAMPLING_WARNINGS: tuple[Filter, ...] = (
    (RuntimeWarning, r"invalid value encountered in dot", r"(pymc|pytensor)(\..*)?$"),
    (RuntimeWarning, r"invalid value encountered in accumulate", r"numpy(\..*)?$"),
)

#: :data:`SAMPLING_WARNINGS` as ``PYTHONWARNINGS`` entries (message prefix, category).
WORKER_WARNING_OPTIONS: tuple[str, ...] = (
    "ignore:invalid value encountered in dot:RuntimeWarning",
    "ignore:invalid value encountered in accumulate:RuntimeWarning",
)


def install(filters: tuple[Filter, ...] = LIBRARY_WARNINGS) -> None:
    """Add ``filters`` (default :data:`LIBRARY_WARNINGS`) to this process's warning filters."""
    for category, message, module in filters:
        warnings.filterwarnings("ignore", message=message, category=category, module=module)


@contextlib.contextmanager
def sampling_filters() -> Iterator[None]:
    """Hide :data:`SAMPLING_WARNINGS` here and in sampler workers started in the block.

    Filters and ``PYTHONWARNINGS`` are restored afterwards, so later code and subprocesses
    are unaffected.
    """
    before = os.environ.get("PYTHONWARNINGS")
    os.environ["PYTHONWARNINGS"] = ",".join([*filter(None, [before]),
                                             *WORKER_WARNING_OPTIONS])
    try:
        with warnings.catch_warnings():
            install(SAMPLING_WARNINGS)
            yield
    finally:
        if before is None:
            os.environ.pop("PYTHONWARNINGS", None)
        else:
            os.environ["PYTHONWARNINGS"] = before
