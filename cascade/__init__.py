"""cascade: caption-then-reason evaluation of audio reasoning benchmarks.

The public API: records, the two component roles, and the registry. Imports no model library.
"""

from cascade.core import (
    Captioner,
    CascadeError,
    ChatMessage,
    ChatRequest,
    ComponentConfig,
    Identity,
    Item,
    Reasoner,
    ReasonerResponse,
    RuntimeConfig,
    StageInput,
    StageOutput,
)

__version__ = "0.1.0"

__all__ = [
    "Captioner",
    "CascadeError",
    "ChatMessage",
    "ChatRequest",
    "ComponentConfig",
    "Identity",
    "Item",
    "Reasoner",
    "ReasonerResponse",
    "RuntimeConfig",
    "StageInput",
    "StageOutput",
    "__version__",
]
