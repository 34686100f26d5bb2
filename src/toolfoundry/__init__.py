"""toolfoundry: let LLM agents extend themselves safely.

`from toolfoundry import Foundry` is the Python facade; the CLI, MCP server and UI all use it.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
