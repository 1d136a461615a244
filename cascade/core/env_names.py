"""Names of environment variables in configs (`runtime.api_key_env`, `hf_token_env`, any key
ending in `_env`): a value that looks like a secret pasted in their place is refused before
anything is printed or written, and never repeated.

A variable's name is conventionally upper case, digits and underscores (OPENAI_API_KEY); a key is
a long run of mixed letters and digits, often behind a provider's prefix (sk-, hf_, ghp_...).
A refused value that really is a variable's name is allowed by naming it in the environment
variable CASCADE_ALLOW_ENV_NAMES (comma-separated names), so that no real variable is unusable.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from typing import Any

from cascade.core.errors import ConfigError

ALLOW_VARIABLE = "CASCADE_ALLOW_ENV_NAMES"
"""Comma-separated names that are allowed although they look like secrets."""

KEY_PREFIXES = (
    "sk-",  # OpenAI (sk-proj-...), Anthropic (sk-ant-...), DeepSeek, many OpenAI-compatible APIs
    "sk_",  # Stripe secret keys, ElevenLabs
    "rk_",  # Stripe restricted keys
    "pk_live_",  # Stripe publishable keys
    "pk_test_",
    "hf_",  # Hugging Face user tokens
    "api_org_",  # Hugging Face organisation tokens
    "ghp_",  # GitHub personal, OAuth, user-to-server, server-to-server and refresh tokens
    "gho_",
    "ghu_",
    "ghs_",
    "ghr_",
    "github_pat_",  # GitHub fine-grained tokens
    "glpat-",  # GitLab personal, deploy and runner tokens
    "gldt-",
    "glrt-",
    "AIza",  # Google API keys
    "ya29.",  # Google OAuth access tokens
    "xox",  # Slack tokens (xoxb-, xoxp-, xoxa-, xoxs-...)
    "xapp-",  # Slack app tokens
    "AKIA",  # AWS access key ids (long-lived and temporary)
    "ASIA",
    "gsk_",  # Groq
    "r8_",  # Replicate
    "pplx-",  # Perplexity
    "nvapi-",  # NVIDIA
    "npm_",  # npm
    "pypi-",  # PyPI upload tokens
    "dop_v1_",  # DigitalOcean
    "shpat_",  # Shopify
    "SG.",  # SendGrid
    "eyJ",  # a JSON Web Token (base64 of '{"')
)
"""Prefixes of common API keys and tokens (case-sensitive), each followed by its secret part."""

_SECRET_PART = 8
"""Characters after a known prefix that make a key of it (so `hf_token`, a name, passes)."""
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_LETTER_DIGIT_SWITCH = re.compile(r"(?<=[A-Za-z])(?=[0-9])|(?<=[0-9])(?=[A-Za-z])")


def env_keys(data: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted key, value) of every key ending in `_env` anywhere in config data."""
    if isinstance(data, Mapping):
        for key, value in data.items():
            dotted = f"{path}.{key}" if path else str(key)
            if str(key).endswith("_env"):
                yield dotted, value
            else:
                yield from env_keys(value, dotted)
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from env_keys(value, f"{path}.{index}" if path else str(index))


def why_secret(value: str) -> str | None:
    """Why `value` looks like a secret rather than a variable's name, or None if it does not.
    The reason never quotes the value."""
    for prefix in KEY_PREFIXES:
        if value.startswith(prefix) and len(value) >= len(prefix) + _SECRET_PART:
            return f"it starts with {prefix!r}, the prefix of a known kind of API key"
    if not _NAME.fullmatch(value):
        return (
            "it is not a variable's name (letters, digits and underscores, not starting with a "
            "digit)"
        )
    for part in value.split("_"):
        switches = len(_LETTER_DIGIT_SWITCH.findall(part))
        mixed = re.search(r"[a-z]", part) and re.search(r"[0-9]", part)
        if switches >= 4 or (mixed and len(part) >= 10):
            return "it mixes letters and digits the way keys do (names are words in upper case)"
        if len(part) >= 24:
            return "it holds a run of 24 or more characters with no underscore, as keys do"
    return None


def check_env_names(data: Any) -> None:
    """Refuse config data in which a `*_env` key holds something other than a variable's name.

    Raises:
        ConfigError: naming the key and why the value looks like a secret, never the value.
    """
    allowed = {n.strip() for n in os.environ.get(ALLOW_VARIABLE, "").split(",") if n.strip()}
    for key, value in env_keys(data):
        if value is None or (isinstance(value, str) and value in allowed):
            continue
        reason = (
            why_secret(value)
            if isinstance(value, str)
            else "it is not text (a name is written as text)"
        )
        if reason is None:
            continue
        raise ConfigError(
            f"{key} must be the NAME of an environment variable, and the value given looks like "
            f"a secret: {reason}. It was not printed or stored. Put the key in a variable and "
            f"give its name (export MY_API_KEY=...; {key}=MY_API_KEY). If the value is the name "
            f"of a variable, allow it with {ALLOW_VARIABLE}=<that name> in the environment."
        )
