"""The errors cascade raises: each says what went wrong, for which item, and what to do next."""

from __future__ import annotations


class CascadeError(Exception):
    """Base of every error the CLI reports as one clear paragraph (no traceback unless --debug)."""


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


class ComponentError(CascadeError):
    """A component failed as a whole (e.g. its model could not load), not on one item."""
