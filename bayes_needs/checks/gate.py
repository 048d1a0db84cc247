"""Convergence gate: allocations are only made from fits that meet the thresholds.

Every fit stores its convergence summary (:mod:`bayes_needs.core.convergence`: max R-hat, min
bulk and tail ESS, divergences, min BFMI over the hyperparameters; for an approximate fit,
the Pareto k̂ of its importance weights instead). Before
allocating, ``bayes-needs allocate`` and ``bayes-needs fit --allocate`` call :func:`enforce`,
which refuses a fit missing any threshold (exit code 2, naming each failure) unless the user
passes ``--allow-unconverged``. From Python, :meth:`bayes_needs.Run.allocate` applies the same
gate and names its own argument (``on_unconverged="warn"``): every caller of :func:`enforce`
says how its user refits or overrides the gate (:class:`GateHints`). Whether the gate passed,
and whether it was overridden (and how), is recorded in ``summary.txt`` and in the attrs of
``allocation.nc``.

``bayes-needs demo`` (synthetic data with a known truth) and ``bayes-needs sensitivity``
(exploratory comparisons of alternative choices, usually with short chains) do not refuse:
they print a warning and record the gate result instead.

The thresholds live here only (:data:`DEFAULT_THRESHOLDS`): R-hat <= 1.01, bulk and tail ESS
>= 400, no divergences (Vehtari et al. 2021, "Rank-normalization, folding, and localization").
BFMI is recorded; a minimum can be set but is not gated by default. An approximate fit
(``sampling.method = "laplace"``) is gated on its Pareto k̂ <= 0.7
(:data:`~bayes_needs.core.defaults.PARETO_K_THRESHOLD`; Yao et al. 2018) instead: R-hat and ESS
of independent draws say nothing about the approximation.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, NamedTuple

from bayes_needs.allocation import Allocation
from bayes_needs.core import defaults
from bayes_needs.core.convergence import is_approximate, method_of
from bayes_needs.core.errors import ConfigError, ConvergenceError

#: Name of the allocation attribute holding the gate record (JSON).
GATE_ATTR = "bayes_needs_convergence_gate"
#: The command-line override of the gate.
OVERRIDE_FLAG = "--allow-unconverged"


class GateHints(NamedTuple):
    """How a caller's user refits for longer or overrides the gate, as named in its messages.

    Attributes
    ----------
    override
        Allocates from an unconverged fit anyway: a flag on the command line, an argument
        in Python (e.g. ``on_unconverged="warn"``); also recorded in :attr:`GateResult.status`.
    refit
        The settings of a longer fit, e.g. ``--tune, --draws``.
    exact
        How to refit an approximate fit with NUTS, e.g. ``--method nuts``.
    """

    override: str
    refit: str
    exact: str = 'sampling.method = "nuts"'


#: The command line's hints: ``--allow-unconverged``, ``--tune``, ``--draws``, ``--method``.
CLI_HINTS = GateHints(OVERRIDE_FLAG, "--tune, --draws", "--method nuts")


def _number(value: Any) -> bool:
    """Whether ``value`` is a finite real number (not a bool)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and \
        math.isfinite(value)


@dataclass(frozen=True)
class Thresholds:
    """Convergence thresholds a fit must meet.

    Parameters
    ----------
    rhat_max
        Largest acceptable rank-normalised split R-hat.
    ess_min
        Smallest acceptable bulk and tail effective sample size.
    divergences_max
        Largest acceptable number of divergent transitions.
    bfmi_min
        Smallest acceptable E-BFMI of any chain; ``None`` does not gate on it.
    pareto_k_max
        Largest acceptable Pareto k̂ of an approximate fit's importance weights.
    """

    rhat_max: float = 1.01
    ess_min: float = 400.0
    divergences_max: int = 0
    bfmi_min: float | None = None
    pareto_k_max: float = defaults.PARETO_K_THRESHOLD

    def __post_init__(self) -> None:
        """Check every threshold, naming those out of range."""
        checks = {"rhat_max": self.rhat_max >= 1.0 if _number(self.rhat_max) else False,
                  "ess_min": self.ess_min >= 0 if _number(self.ess_min) else False,
                  "divergences_max": isinstance(self.divergences_max, int)
                  and not isinstance(self.divergences_max, bool) and self.divergences_max >= 0,
                  "bfmi_min": self.bfmi_min is None or (_number(self.bfmi_min)
                                                        and self.bfmi_min >= 0),
                  "pareto_k_max": _number(self.pareto_k_max)}
        bad = [k for k, ok in checks.items() if not ok]
        if bad:
            raise ConfigError(f"invalid convergence threshold(s) {bad}: rhat_max >= 1, ess_min "
                              f">= 0, divergences_max a whole number >= 0, bfmi_min >= 0, "
                              f"pareto_k_max a number")


DEFAULT_THRESHOLDS = Thresholds()


def check_convergence(summary: Mapping[str, Any], *,
                      rhat_max: float = DEFAULT_THRESHOLDS.rhat_max,
                      ess_min: float = DEFAULT_THRESHOLDS.ess_min,
                      divergences_max: int = DEFAULT_THRESHOLDS.divergences_max,
                      bfmi_min: float | None = DEFAULT_THRESHOLDS.bfmi_min,
                      pareto_k_max: float = DEFAULT_THRESHOLDS.pareto_k_max) -> list[str]:
    """List the failures of a convergence summary against the thresholds.

    Parameters
    ----------
    summary
        A convergence summary (:func:`bayes_needs.core.convergence.convergence_summary`):
        ``rhat_max``, ``ess_bulk_min``, ``ess_tail_min``, ``divergences``, ``bfmi_min`` and
        optionally ``per_variable`` (used to name the worst variables); or an approximate
        fit's (:func:`~bayes_needs.core.convergence.approximation_summary`), checked on its
        ``pareto_k`` only.
    rhat_max, ess_min, divergences_max, bfmi_min, pareto_k_max
        Thresholds, see :class:`Thresholds`.

    Returns
    -------
    list of str
        One sentence per failed check (empty when it passes), naming the value, the
        threshold and the variables at fault. A statistic that could not be computed (NaN,
        e.g. R-hat of a single chain) fails, since convergence is then unknown.
    """
    limits = Thresholds(rhat_max, ess_min, divergences_max, bfmi_min, pareto_k_max)
    if is_approximate(summary):
        return _approximation_failures(summary, limits.pareto_k_max)
    per = summary.get("per_variable", {}) or {}
    failures: list[str] = []

    def worst(key: str, bad: Callable[[float], bool]) -> str:
        names = [n for n, v in (per.get(key) or {}).items() if bad(v)]
        return f" ({', '.join(names)})" if names else ""

    rhat = float(summary.get("rhat_max", float("nan")))
    if not math.isfinite(rhat):
        failures.append("R-hat could not be computed (it needs at least 2 chains of 4+ draws)")
    elif rhat > limits.rhat_max:
        failures.append(f"max R-hat {rhat:.4f} > {limits.rhat_max}"
                        f"{worst('rhat_max', lambda v: v > limits.rhat_max)}")
    for key, label in (("ess_bulk_min", "bulk ESS"), ("ess_tail_min", "tail ESS")):
        value = float(summary.get(key, float("nan")))
        if not math.isfinite(value):
            failures.append(f"{label} could not be computed")
        elif value < limits.ess_min:
            failures.append(f"min {label} {value:.0f} < {limits.ess_min:g}"
                            f"{worst(key, lambda v: v < limits.ess_min)}")
    divergences = int(summary.get("divergences", 0))
    if divergences > limits.divergences_max:
        failures.append(f"{divergences} divergent transition(s) > {limits.divergences_max}")
    if limits.bfmi_min is not None:
        bfmi = float(summary.get("bfmi_min", float("nan")))
        if not math.isfinite(bfmi) or bfmi < limits.bfmi_min:
            failures.append(f"min BFMI {bfmi:.3f} < {limits.bfmi_min}")
    return failures


def _approximation_failures(summary: Mapping[str, Any], pareto_k_max: float) -> list[str]:
    """List the failure of an approximate fit's Pareto k̂ (unknown k̂ fails)."""
    value: Any = summary.get("pareto_k")
    if not _number(value):
        return ["Pareto k̂ of the approximation could not be computed"]
    k = float(value)
    if k > pareto_k_max:
        total = int(summary.get("n_chains", 0)) * int(summary.get("n_draws", 0))
        return [f"Pareto k̂ {k:.2f} > {pareto_k_max:g}: the {method_of(summary)} "
                f"approximation's importance weights are unreliable (importance ESS "
                f"{float(summary.get('importance_ess', math.nan)):.0f} of {total})"]
    return []


@dataclass(frozen=True)
class GateResult:
    """Outcome of the gate for one fit.

    Attributes
    ----------
    passed
        Every threshold met.
    failures
        What missed, one sentence each.
    allowed_unconverged
        The user allowed allocation from an unconverged fit.
    thresholds
        The thresholds applied.
    override
        How the user allows it: :data:`OVERRIDE_FLAG` on the command line, an argument in
        Python (recorded in :attr:`status`).
    approximate
        The fit is approximate: gated on its Pareto k̂, not on R-hat and ESS.
    """

    passed: bool
    failures: tuple[str, ...]
    allowed_unconverged: bool
    thresholds: Thresholds = DEFAULT_THRESHOLDS
    override: str = OVERRIDE_FLAG
    approximate: bool = False

    @property
    def status(self) -> str:
        """Describe the outcome: ``"passed"``, ``"failed, allowed by ..."`` or ``"failed"``."""
        if self.passed:
            return "passed"
        return f"failed, allowed by {self.override}" if self.allowed_unconverged else "failed"

    def to_dict(self) -> dict[str, Any]:
        """Return the outcome as a plain JSON-able record."""
        return {"status": self.status, "passed": self.passed,
                "failures": list(self.failures),
                "allow_unconverged": self.allowed_unconverged,
                "approximate": self.approximate, "thresholds": asdict(self.thresholds)}

    def summary_lines(self) -> dict[str, str]:
        """Return the ``summary.txt`` entries (label -> value)."""
        lines = {"convergence gate": self.status,
                 "gate thresholds": threshold_text(self.thresholds, self.approximate),
                 "allow unconverged": "yes" if self.allowed_unconverged else "no"}
        for i, failure in enumerate(self.failures, 1):
            lines[f"gate failure {i}"] = failure
        return lines


def threshold_text(thresholds: Thresholds, approximate: bool) -> str:
    """Word the thresholds applied to an exact (NUTS) or an approximate fit."""
    t = thresholds
    if approximate:
        return f"Pareto k̂ <= {t.pareto_k_max:g} (approximate fit)"
    return (f"R-hat <= {t.rhat_max}, bulk/tail ESS >= {t.ess_min:g}, divergences <= "
            f"{t.divergences_max}" + (f", BFMI >= {t.bfmi_min}" if t.bfmi_min is not None
                                      else ""))


def evaluate(summary: Mapping[str, Any], *, allow_unconverged: bool = False,
             thresholds: Thresholds = DEFAULT_THRESHOLDS,
             override: str = OVERRIDE_FLAG) -> GateResult:
    """Apply the gate without raising.

    Parameters
    ----------
    summary
        A convergence summary (see :func:`check_convergence`).
    allow_unconverged
        Recorded in the result: the user allowed allocation from an unconverged fit.
    thresholds
        The thresholds applied.
    override
        How the user allows an unconverged fit (see :class:`GateResult`).

    Returns
    -------
    GateResult
        Whether the fit passed, and why not.
    """
    failures = check_convergence(summary, **asdict(thresholds))
    return GateResult(not failures, tuple(failures), bool(allow_unconverged), thresholds,
                      override, is_approximate(summary))


def enforce(summary: Mapping[str, Any], *, hints: GateHints, allow_unconverged: bool = False,
            thresholds: Thresholds = DEFAULT_THRESHOLDS, source: str = "the fit") -> GateResult:
    """Apply the gate; refuse an unconverged fit unless ``allow_unconverged``.

    Parameters
    ----------
    summary
        A convergence summary (see :func:`check_convergence`).
    hints
        How the caller's user refits or allocates anyway, named in the error (the override
        is recorded in the result too): :data:`CLI_HINTS` for the command line, the
        arguments of the Python function for Python callers.
    allow_unconverged
        Allocate from an unconverged fit anyway.
    thresholds
        The thresholds applied.
    source
        The fit, as named in the error.

    Returns
    -------
    GateResult
        The outcome (passed, or failed and allowed).

    Raises
    ------
    ConvergenceError
        If a threshold is missed and ``allow_unconverged`` is false; the message lists every
        failure and how to proceed.
    """
    result = evaluate(summary, allow_unconverged=allow_unconverged, thresholds=thresholds,
                      override=hints.override)
    if not result.passed and not allow_unconverged and result.approximate:
        raise ConvergenceError(
            f"refusing to allocate from {source}: {'; '.join(result.failures)} (the gate "
            f"accepts an approximate fit up to Pareto k̂ {thresholds.pareto_k_max:g}). Refit "
            f"with NUTS ({hints.exact}), or pass {hints.override} to allocate from the "
            f"approximation anyway (recorded in the outputs)")
    if not result.passed and not allow_unconverged:
        listed = "; ".join(result.failures)
        raise ConvergenceError(
            f"refusing to allocate from {source}: it misses the convergence thresholds "
            f"({listed}). Refit with more tuning steps and draws ({hints.refit}) or more "
            f"chains, or pass {hints.override} to allocate anyway (recorded in the outputs)")
    return result


def record_in_allocation(allocation: Allocation, result: GateResult) -> None:
    """Store the gate result in an allocation's attrs (saved in ``allocation.nc``).

    Parameters
    ----------
    allocation
        The allocation made from the fit (changed in place).
    result
        The fit's gate result.
    """
    allocation.draws.attrs[GATE_ATTR] = json.dumps(result.to_dict(), sort_keys=True)
    allocation.draws.attrs["allow_unconverged"] = int(result.allowed_unconverged)
    allocation.draws.attrs["convergence_gate"] = result.status


def warning_text(result: GateResult, source: str = "the fit") -> str:
    """Word the warning of commands that record the gate rather than refuse.

    Parameters
    ----------
    result
        A failed gate result.
    source
        The fit, as named in the warning.

    Returns
    -------
    str
        One paragraph.
    """
    return (f"warning: {source} misses the convergence thresholds ("
            f"{'; '.join(result.failures)}); treat its allocations as provisional")
