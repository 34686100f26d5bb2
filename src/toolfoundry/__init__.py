"""toolfoundry: let LLM agents extend themselves safely.

`from toolfoundry import Foundry` is the Python facade; the CLI (and the MCP server and UI to come)
use it. It is imported lazily, so `import toolfoundry` stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from toolfoundry.version import __version__

__all__ = ["Foundry", "__version__"]

if TYPE_CHECKING:
    from toolfoundry.api import Foundry


def __getattr__(name: str) -> Any:
    if name == "Foundry":
        from toolfoundry.api import Foundry

        return Foundry
    raise AttributeError(f"module 'toolfoundry' has no attribute {name!r}")
