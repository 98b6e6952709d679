"""Running a tool on its own, without an executor (SPEC EXE-14).

Parse, validate, run to completion. Updates are only recorded on the context; there is no
duplicate policy, no registry and no event.
"""

from __future__ import annotations

import math
from typing import Any

import attrs
from anyio import current_effective_deadline
from anyio.lowlevel import checkpoint

from ._arguments import parse_arguments
from ._chat import FunctionCall, FunctionCallOutput, current_time
from ._context import RunContext
from ._errors import InvalidArgumentsError
from ._outcomes import DispatchResult, Outcome, answer, judge
from ._tools import Tool

__all__ = ["run_tool"]


async def run_tool(
    tool: Tool, call: FunctionCall, ctx: RunContext[Any] | None = None
) -> DispatchResult:
    """Run one call of ``tool`` to completion, outside any executor.

    Updates the tool makes are recorded on the context (``ctx.updates``) and nothing else.
    Cancelling ``run_tool()`` cancels the tool. Always a checkpoint.

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
        await checkpoint()
        return DispatchResult(call, FunctionCallOutput.from_exception(call, exc))
    if parsed.text != call.arguments:
        call = attrs.evolve(call, arguments=parsed.text)
    if ctx is None:
        ctx = RunContext(function_call=call)
    prepared = tool.prepare(parsed.value)
    if prepared.error is not None:
        await checkpoint()
        return DispatchResult(call, FunctionCallOutput.from_exception(call, prepared.error))
    try:
        value = await tool.invoke(ctx, prepared.arguments or {})
    except BaseException as exc:
        cancelled = current_effective_deadline() == -math.inf
        outcome, propagate = judge(
            exc,
            cancelled=cancelled,
            reason="run_tool() was cancelled" if cancelled else None,
            tool=tool.name,
            call_id=call.call_id,
        )
        if propagate:
            raise
    else:
        outcome = Outcome.of_value(value, tool=tool.name, call_id=call.call_id)
    await checkpoint()  # INV-27; raises here if the tool swallowed our cancellation
    return answer(call, outcome, created_at=current_time())
