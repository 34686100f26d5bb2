"""The MCP server (``server.py``) and the transports it is served over (``transport.py``)."""
