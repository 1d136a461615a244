"""The errors cascade raises: each says what went wrong, for which item, and what to do next."""

from __future__ import annotations


class CascadeError(Exception):
    """Base of every error the CLI reports as one clear paragraph (no traceback unless --debug).

    `exit_code` is the process exit code the CLI uses for it (see `ExitCode`)."""

    exit_code: int = 1


class AudioError(CascadeError):
    """A clip that cannot be read: missing, empty, corrupt or in an unsupported format."""


class BenchmarkError(CascadeError):
    """Malformed benchmark metadata. The message names the item(s) and the reason."""


class ConfigError(CascadeError):
    """An invalid run config: unknown key, bad value, unknown component or preset."""


class RegistryError(CascadeError):
    """A name that is not registered (the message suggests the closest names)."""


class MissingExtraError(CascadeError):
    """A component whose heavy library is not installed."""

    def __init__(self, component: str, extra: str, missing: str) -> None:
        super().__init__(
            f"{component} needs the '{missing}' package, which is not installed: "
            f"pip install -e '.[{extra}]'"
        )
        self.component = component
        self.extra = extra


class PromptError(CascadeError):
    """A prompt template that is malformed, or rendered with missing or unknown placeholders."""


class FailureRateExceeded(CascadeError):
    """Too many items failed; the run stopped with everything computed so far on disk."""

    exit_code = 4  # ExitCode.STOPPED


class CostLimitReached(FailureRateExceeded):
    """The answers a run computed reached its `run.max_cost`: a stop limit like the failure
    rate's, handled the same way (everything so far finalised, the same command resumes)."""


class StorageError(CascadeError):
    """A folder cascade must write to (the cache, a run directory) refuses writes: read-only,
    not a folder, full."""


class ComponentError(CascadeError):
    """A component failed as a whole (e.g. its model could not load), not on one item."""


class ExitCode:
    """The exit codes of every cascade command (`run`, `ablate`, `score`, `judge`, ...).

    - 0 OK: the work is done and every item has an answer (or a judgement).
    - 1 ERROR: nothing trustworthy was produced: a user or input error (bad config, malformed
      metadata or predictions file, zero items to score), or a component that could not start.
    - 2 USAGE: the command line itself is wrong (an unknown option; reported by the CLI parser).
    - 3 FAILED_ITEMS: the work finished, but some items have no answer; the command lists how
      many. Their results record the error; running the same command again retries them.
    - 4 STOPPED: the work stopped early (the failure-rate limit, or an interrupt); everything
      computed so far is on disk and the same command resumes it.
    """

    OK = 0
    ERROR = 1
    USAGE = 2
    FAILED_ITEMS = 3
    STOPPED = 4


class ItemsFailed(CascadeError):
    """The work finished, but some items failed (exit code 3). Raised after every output is
    written, so that nothing computed is lost."""

    exit_code = ExitCode.FAILED_ITEMS

    def __init__(self, message: str, failed: int) -> None:
        super().__init__(message)
        self.failed = failed


class Interrupted(CascadeError):
    """The work was interrupted (Ctrl-C); everything computed so far is on disk (exit code 4)."""

    exit_code = ExitCode.STOPPED
