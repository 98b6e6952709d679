"""Long-running LLM tools with structured concurrency, on asyncio and trio."""

from __future__ import annotations

from ._arguments import ParsedArguments, parse_arguments
from ._chat import (
    AgentHandoff,
    ChatContext,
    ChatItem,
    ChatMessage,
    ChatRole,
    FunctionCall,
    FunctionCallOutput,
    JSONValue,
)
from ._context import RunContext, UpdatePair
from ._errors import (
    ActivityClosedError,
    ExecutorClosedError,
    InvalidArgumentsError,
    SessionClosedError,
    StopResponse,
    ToolError,
    UnknownToolError,
)
from ._host import SessionHandle, TurnHandle
from ._info import DuplicateMode, DuplicateScope, ToolFlag, ToolInfo
from ._options import (
    AsyncToolOptions,
    DuplicatePromptArgs,
    ReplyPromptArgs,
    ToolHandlingOptions,
    ToolOptions,
    UpdatePromptArgs,
)
from ._schema import CONFIRM_PARAM
from ._tools import FunctionTool, PreparedArguments, RawFunctionTool, Tool, function_tool
from ._toolsets import Toolset, ToolsetItem
from ._values import CANCELLED_TEXT, GENERIC_ERROR_TEXT

__all__ = [
    "CANCELLED_TEXT",
    "CONFIRM_PARAM",
    "GENERIC_ERROR_TEXT",
    "ActivityClosedError",
    "AgentHandoff",
    "AsyncToolOptions",
    "ChatContext",
    "ChatItem",
    "ChatMessage",
    "ChatRole",
    "DuplicateMode",
    "DuplicatePromptArgs",
    "DuplicateScope",
    "ExecutorClosedError",
    "FunctionCall",
    "FunctionCallOutput",
    "FunctionTool",
    "InvalidArgumentsError",
    "JSONValue",
    "ParsedArguments",
    "PreparedArguments",
    "RawFunctionTool",
    "ReplyPromptArgs",
    "RunContext",
    "SessionClosedError",
    "SessionHandle",
    "StopResponse",
    "Tool",
    "ToolError",
    "ToolFlag",
    "ToolHandlingOptions",
    "ToolInfo",
    "ToolOptions",
    "Toolset",
    "ToolsetItem",
    "TurnHandle",
    "UnknownToolError",
    "UpdatePair",
    "UpdatePromptArgs",
    "function_tool",
    "parse_arguments",
]

__version__ = "0.1.0.dev0"

# Show public names as living where users import them from (as httpx does).
for _name in __all__:
    _value = globals()[_name]
    if isinstance(_value, type) or callable(_value):
        try:
            _value.__module__ = __name__
        except (AttributeError, TypeError):  # aliases of builtins or generics
            pass
del _name, _value
