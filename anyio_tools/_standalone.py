"""Running a tool on its own, without an executor (SPEC EXE-14).

Parse, validate, run to completion. Updates are only recorded on the context; there is no
duplicate policy, no registry and no event.
"""

from __future__ import annotations

import logging
from typing import Any

import attrs
from anyio import get_cancelled_exc_class

from ._arguments import parse_arguments
from ._chat import FunctionCall, FunctionCallOutput, current_time
from ._context import RunContext
from ._errors import InvalidArgumentsError, StopResponse, ToolError
from ._outcomes import DispatchResult, Outcome, answer
from ._tools import Tool

__all__ = ["run_tool"]

logger = logging.getLogger("anyio_tools.executor")


async def run_tool(
    tool: Tool, call: FunctionCall, ctx: RunContext[Any] | None = None
) -> DispatchResult:
    """Run one call of ``tool`` to completion, outside any executor.

    Updates the tool makes are recorded on the context (``ctx.updates``) and nothing else.
    Cancelling ``run_tool()`` cancels the tool.

    Args:
        tool: The tool to run.
        call: The call item (its arguments are the LLM's JSON text).
        ctx: The context to run it with; a fresh one without session or turn by default.

    Returns:
        The answer the LLM would see, and the call item to record.
    """
    try:
        parsed = parse_arguments(tool.name, call.arguments)
    except InvalidArgumentsError as exc:
        return DispatchResult(call, FunctionCallOutput.from_exception(call, exc))
    if parsed.text != call.arguments:
        call = attrs.evolve(call, arguments=parsed.text)
    if ctx is None:
        ctx = RunContext(function_call=call)
    prepared = tool.prepare(parsed.value)
    if prepared.error is not None:
        return DispatchResult(call, FunctionCallOutput.from_exception(call, prepared.error))
    try:
        value = await tool.invoke(ctx, prepared.arguments or {})
    except get_cancelled_exc_class():
        raise
    except Exception as exc:
        if not isinstance(exc, ToolError | StopResponse):
            logger.error("tool %s (call %s) raised", tool.name, call.call_id, exc_info=exc)
        return answer(call, Outcome.of_error(exc), created_at=current_time())
    return answer(call, Outcome.of_value(value), created_at=current_time())
