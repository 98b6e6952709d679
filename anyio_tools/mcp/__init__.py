"""MCP both ways: an MCP server's tools as long-running tools, and our tools served over MCP.

Needs the ``mcp`` extra (``pip install 'anyio_tools[mcp]'``). This is the only module of the
library that imports the ``mcp`` SDK.
"""

from __future__ import annotations

from ._connection import ServerSpec, memory_transport
from ._server import build_mcp_server, mcp_tool, serve_mcp
from ._toolset import MCPToolOptions, MCPToolset

__all__ = [
    "MCPToolOptions",
    "MCPToolset",
    "ServerSpec",
    "build_mcp_server",
    "mcp_tool",
    "memory_transport",
    "serve_mcp",
]

# Show public names as living where users import them from (as the main package does).
for _name in __all__:
    _value = globals()[_name]
    if isinstance(_value, type) or callable(_value):
        try:
            _value.__module__ = __name__
        except (AttributeError, TypeError):  # aliases of builtins or generics
            pass
del _name, _value
