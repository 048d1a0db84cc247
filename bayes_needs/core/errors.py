"""Exception types. Everything a user can get wrong raises a :class:`BayesNeedsError`.

The CLI turns these into a one-paragraph message and exit code 2, never a traceback.
"""

from __future__ import annotations

from collections.abc import Iterable


class BayesNeedsError(Exception):
    """Base class for errors caused by user input (data, config, arguments)."""


class DataValidationError(BayesNeedsError, ValueError):
    """Input data failed validation; ``problems`` lists every problem found, not just the first.

    Parameters
    ----------
    source
        The file or object the data came from (used as a prefix on every problem).
    problems
        Human-readable problem descriptions, each naming the column, row or code at fault.
    """

    def __init__(self, source: str, problems: Iterable[str]) -> None:
        self.source = source
        self.problems = list(problems)
        shown = self.problems[:20]
        more = len(self.problems) - len(shown)
        lines = [f"{source}: {len(self.problems)} problem(s) found"]
        lines += [f"  - {p}" for p in shown]
        if more:
            lines.append(f"  ... and {more} more")
        super().__init__("\n".join(lines))

    def __reduce__(self) -> tuple[type[DataValidationError], tuple[str, list[str]]]:
        """Rebuild from ``(source, problems)``, so the error survives pickling (Dask workers)."""
        return type(self), (self.source, self.problems)


class GeographyError(DataValidationError):
    """The LSOA -> MSOA -> LA nesting is invalid."""


class PriorConfigError(DataValidationError):
    """A prior configuration file is invalid."""


class ConfigFileError(DataValidationError):
    """A configuration file (run config, scenario file) is unreadable or invalid."""


class ConfigError(BayesNeedsError, ValueError):
    """An argument, option or configuration value is invalid."""


class DataHashMismatchError(BayesNeedsError):
    """A saved fit was loaded against data other than the data it was fitted to."""


class ConvergenceError(BayesNeedsError):
    """A fit misses the convergence thresholds and the caller did not allow that."""


class ConvergenceWarning(UserWarning):
    """A fit misses the convergence thresholds and the caller allowed it (provisional results)."""


class MissingDataError(BayesNeedsError, FileNotFoundError):
    """An expected input file or directory does not exist."""


class OutputWriteError(BayesNeedsError):
    """Output files could not be written (e.g. a full disk); the previous files were kept.

    Parameters
    ----------
    path
        The file or directory that could not be written.
    reason
        Why (the operating system's words, e.g. "No space left on device").
    errno
        The operating-system error number, when there is one (``errno.ENOSPC``: disk full).
    """

    def __init__(self, path: str, reason: str, errno: int | None = None) -> None:
        self.path = path
        self.reason = reason
        self.errno = errno
        super().__init__(f"could not write {path}: {reason}")

    def __reduce__(self) -> tuple[type[OutputWriteError], tuple[str, str, int | None]]:
        """Rebuild from ``(path, reason, errno)``, so the error survives pickling."""
        return type(self), (self.path, self.reason, self.errno)


class OutputDirectoryLockedError(BayesNeedsError):
    """Another bayes-needs run is writing the same output directory."""
