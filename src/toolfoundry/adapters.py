"""``toolfoundry.adapters``: the public name of the framework adapters, which live in ``surfaces/frameworks.py``."""

from toolfoundry.surfaces.frameworks import (
    anthropic_tools,
    call_anthropic_tool,
    call_openai_tool,
    function_tool,
    langchain_tools,
    openai_tools,
    pydantic_ai_tools,
    pydantic_ai_toolset,
)

__all__ = ["anthropic_tools", "call_anthropic_tool", "call_openai_tool", "function_tool", "langchain_tools",
           "openai_tools", "pydantic_ai_tools", "pydantic_ai_toolset"]
