"""The faces of a foundry: the command line, the MCP server, the review UI, the framework adapters and
the reference agent. Each goes through the ``Foundry`` facade (``toolfoundry.api``) and nothing below it.
"""
