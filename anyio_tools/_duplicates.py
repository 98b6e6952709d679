"""The duplicate-call policies: allow, reject, confirm, replace, join (SPEC DUP-1..9; issue
#16: JOIN-1..4 in the README).

The decision is synchronous: given the running calls of the executor with an equal key, it
returns an answer that refuses the call, the calls to replace, the call to join, or nothing
(admit).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Final, Generic, TypeVar, final

import attrs

from ._chat import FunctionCall, FunctionCallOutput, new_output
from ._info import DuplicateMode, ToolInfo
from ._options import DuplicatePromptArgs, JoinPromptArgs, ToolOptions, render
from ._registry import RegisteredCall
from ._schema import CONFIRM_PARAM

__all__ = ["CANCEL_TOOL_NAME", "LIST_TOOL_NAME", "Decision", "decide", "joined_answer"]

LIST_TOOL_NAME: Final = "anyio_tools_get_running_tasks"
CANCEL_TOOL_NAME: Final = "anyio_tools_cancel_task"


CallT = TypeVar("CallT", bound=RegisteredCall)


@final
@attrs.frozen
class Decision(Generic[CallT]):
    """What admission does with a call: answer it, replace others, join one, or admit it."""

    answer: FunctionCallOutput | None = None
    replace: tuple[CallT, ...] = ()
    join: CallT | None = None


def _args(info: ToolInfo, matching: Sequence[RegisteredCall]) -> DuplicatePromptArgs:
    running = [{"call_id": c.call_id, "name": c.name, "arguments": c.arguments} for c in matching]
    return {
        "function_name": info.name,
        "running_calls": running,
        "running_calls_text": "\n".join(json.dumps(r) for r in running),
        "cancel_tool": CANCEL_TOOL_NAME,
        "confirm_param": CONFIRM_PARAM,
    }


def _error(call: FunctionCall, text: str) -> Decision[Any]:
    return Decision(
        answer=FunctionCallOutput(call_id=call.call_id, name=call.name, output=text, is_error=True)
    )


def decide(
    call: FunctionCall,
    info: ToolInfo,
    matching: Sequence[CallT],
    options: ToolOptions,
    *,
    confirm: bool,
) -> Decision[CallT]:
    """Apply the tool's duplicate policy to a new call.

    Args:
        call: The new call item.
        info: The tool's declared properties.
        matching: The executor's running calls with an equal key, oldest first.
        options: The executor's templates.
        confirm: Whether the LLM set the confirm parameter.

    Raises:
        Exception: Whatever a callable template raises.
    """
    mode = info.on_duplicate
    if not matching or mode is DuplicateMode.ALLOW:
        return Decision()
    if mode is DuplicateMode.REJECT:
        text = render(options.duplicate_reject_template, _args(info, matching))
        return Decision(
            answer=FunctionCallOutput(call_id=call.call_id, name=call.name, output=text)
        )
    if mode is DuplicateMode.CONFIRM:
        if confirm:
            return Decision()
        text = render(options.duplicate_confirm_template, _args(info, matching))
        return Decision(
            answer=FunctionCallOutput(call_id=call.call_id, name=call.name, output=text)
        )
    if mode is DuplicateMode.JOIN:
        return Decision(join=matching[0])  # JOIN-1: the oldest running call
    # DuplicateMode.REPLACE
    if any(not c.cancellable for c in matching):
        return _error(
            call,
            f"`{info.name}` is already running and cannot be replaced because it is not "
            "cancellable",
        )
    for running in matching:
        turn = running.turn
        if turn is not None and not turn.allow_interruptions:
            return _error(
                call,
                f"`{info.name}` is already running (call `{running.call_id}`) and cannot be "
                "replaced while its turn disallows interruptions",
            )
    return Decision(replace=tuple(matching))


def joined_answer(
    call: FunctionCall,
    joined_id: str,
    joined: FunctionCallOutput,
    options: ToolOptions,
    *,
    created_at: float,
) -> FunctionCallOutput:
    """Answer a call that joined running call *joined_id*, whose answer is *joined* (JOIN-2).

    Raises:
        Exception: Whatever a callable template raises.
    """
    args: JoinPromptArgs = {
        "function_name": call.name,
        "call_id": joined_id,
        "answer": joined.output,
    }
    text = render(options.duplicate_join_template, args)
    return new_output(call.call_id, call.name, text, created_at, is_error=joined.is_error)
