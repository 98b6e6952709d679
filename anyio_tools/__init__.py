"""Long-running LLM tools with structured concurrency, on asyncio and trio."""

from __future__ import annotations

from ._arguments import ParsedArguments, parse_arguments
from ._builtins import RunningCallTools
from ._calls import CallHandle
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
from ._deadlines import Deadline
from ._duplicates import CANCEL_TOOL_NAME, LIST_TOOL_NAME
from ._errors import (
    ActivityClosedError,
    CallRefusedError,
    ExecutorClosedError,
    InvalidArgumentsError,
    SessionClosedError,
    StopResponse,
    ToolError,
    UnknownToolError,
)
from ._events import (
    CallEnded,
    CallRetried,
    CallStarted,
    CallStatus,
    CallUpdated,
    CancelAnswer,
    CancelReason,
    DeliveryOutcome,
    DeliverySettled,
    DropReason,
    ReplyDropped,
    ReplyStatus,
    ReplyUpdated,
    ToolEvent,
)
from ._executor import ExecutorScope, ExecutorState, ToolExecutor
from ._host import (
    Conversation,
    ReplyHandle,
    ReplyTarget,
    SessionHandle,
    SubAgentTask,
    ToolHost,
    TurnHandle,
)
from ._info import DuplicateMode, DuplicateScope, ToolFlag, ToolInfo
from ._instrument import Instrumentation
from ._ledger import Delivery
from ._options import (
    AsyncToolOptions,
    DuplicatePromptArgs,
    JoinPromptArgs,
    ReplyPromptArgs,
    TimeoutPromptArgs,
    ToolHandlingOptions,
    ToolOptions,
    UpdatePromptArgs,
)
from ._outcomes import CallResult, DispatchResult
from ._registry import CallRegistry, RunningCall
from ._retry import RetryPolicy
from ._schema import CONFIRM_PARAM
from ._standalone import run_tool
from ._tools import FunctionTool, PreparedArguments, RawFunctionTool, Tool, function_tool
from ._toolsets import Toolset, ToolsetItem
from ._values import CANCELLED_TEXT, CLOSING_TEXT, GENERIC_ERROR_TEXT, HandoffAgent

__all__ = [
    "CANCELLED_TEXT",
    "CANCEL_TOOL_NAME",
    "CLOSING_TEXT",
    "CONFIRM_PARAM",
    "GENERIC_ERROR_TEXT",
    "LIST_TOOL_NAME",
    "ActivityClosedError",
    "AgentHandoff",
    "AsyncToolOptions",
    "CallEnded",
    "CallHandle",
    "CallRefusedError",
    "CallRegistry",
    "CallResult",
    "CallRetried",
    "CallStarted",
    "CallStatus",
    "CallUpdated",
    "CancelAnswer",
    "CancelReason",
    "ChatContext",
    "ChatItem",
    "ChatMessage",
    "ChatRole",
    "Conversation",
    "Deadline",
    "Delivery",
    "DeliveryOutcome",
    "DeliverySettled",
    "DispatchResult",
    "DropReason",
    "DuplicateMode",
    "DuplicatePromptArgs",
    "DuplicateScope",
    "ExecutorClosedError",
    "ExecutorScope",
    "ExecutorState",
    "FunctionCall",
    "FunctionCallOutput",
    "FunctionTool",
    "HandoffAgent",
    "Instrumentation",
    "InvalidArgumentsError",
    "JSONValue",
    "JoinPromptArgs",
    "ParsedArguments",
    "PreparedArguments",
    "RawFunctionTool",
    "ReplyDropped",
    "ReplyHandle",
    "ReplyPromptArgs",
    "ReplyStatus",
    "ReplyTarget",
    "ReplyUpdated",
    "RetryPolicy",
    "RunContext",
    "RunningCall",
    "RunningCallTools",
    "SessionClosedError",
    "SessionHandle",
    "StopResponse",
    "SubAgentTask",
    "TimeoutPromptArgs",
    "Tool",
    "ToolError",
    "ToolEvent",
    "ToolExecutor",
    "ToolFlag",
    "ToolHandlingOptions",
    "ToolHost",
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
    "run_tool",
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
