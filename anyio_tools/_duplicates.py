"""The duplicate-call policies: allow, reject, confirm, replace (SPEC DUP-1..9).

The decision is synchronous: given the running calls of the executor with an equal key, it
returns an answer that refuses the call, the calls to replace, or nothing (admit).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Final, Generic, TypeVar, final

import attrs

from ._chat import FunctionCall, FunctionCallOutput
from ._info import DuplicateMode, ToolInfo
from ._options import DuplicatePromptArgs, ToolOptions, render
from ._registry import RegisteredCall
from ._schema import CONFIRM_PARAM

__all__ = ["CANCEL_TOOL_NAME", "LIST_TOOL_NAME", "Decision", "decide"]

LIST_TOOL_NAME: Final = "anyio_tools_get_running_tasks"
CANCEL_TOOL_NAME: Final = "anyio_tools_cancel_task"


CallT = TypeVar("CallT", bound=RegisteredCall)


@final
@attrs.frozen
class Decision(Generic[CallT]):
    """What admission does with a call: answer it instead, replace others, or admit it."""

    answer: FunctionCallOutput | None = None
    replace: tuple[CallT, ...] = ()


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
