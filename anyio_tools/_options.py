"""Prompt templates and their resolution into a frozen value (SPEC UPD-2, DUP-8, DEL-6, OPT-1..4;
issue #16: ``timeout``, ``idle_timeout``, ``timeout_template``, ``duplicate_join_template``).

Users give partial options as TypedDicts; `ToolOptions.resolve` checks them once (unknown keys,
unknown placeholders, wrong template types) and fills the missing keys from the library
defaults, never from a less specific level.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Mapping
from typing import Any, Final, TypedDict, TypeVar, final

import attrs

__all__ = [
    "AsyncToolOptions",
    "DuplicatePromptArgs",
    "JoinPromptArgs",
    "ReplyPromptArgs",
    "TimeoutPromptArgs",
    "ToolHandlingOptions",
    "ToolOptions",
    "UpdatePromptArgs",
]


class UpdatePromptArgs(TypedDict):
    """What an update template can use."""

    function_name: str
    call_id: str
    message: str


class DuplicatePromptArgs(TypedDict):
    """What the duplicate reject and confirm templates can use."""

    function_name: str
    running_calls: list[dict[str, str]]
    running_calls_text: str
    cancel_tool: str
    confirm_param: str


class JoinPromptArgs(TypedDict):
    """What the join template can use (``on_duplicate="join"``).

    ``call_id`` is the running call the new one joined; ``answer`` is that call's answer so
    far (its first update, or its result).
    """

    function_name: str
    call_id: str
    answer: str


class TimeoutPromptArgs(TypedDict):
    """What the timeout template can use.

    ``deadline`` is ``"timeout"`` or ``"idle_timeout"``; ``seconds`` its length;
    ``deadline_text`` describes it ("time limit of 30 seconds").
    """

    function_name: str
    call_id: str
    deadline: str
    seconds: float
    deadline_text: str


class ReplyPromptArgs(TypedDict):
    """What the deferred reply templates can use.

    ``call_ids`` names the first 50 update ids of the reply (in the order the updates were
    made); ``call_ids_text`` joins them with ", " and, when the reply covers more, ends with
    ", …and 37 more updates". So the instructions of one reply stay short however many
    updates it covers; every update is in the conversation anyway.
    """

    call_ids: list[str]
    call_ids_text: str


class AsyncToolOptions(TypedDict, total=False):
    """Templates for the texts anyio_tools writes into the conversation.

    Each is a ``str.format`` template or a callable that receives the arguments mapping and
    returns the text. Missing keys take the library defaults.
    """

    update_template: str | Callable[[UpdatePromptArgs], str]
    duplicate_reject_template: str | Callable[[DuplicatePromptArgs], str]
    duplicate_confirm_template: str | Callable[[DuplicatePromptArgs], str]
    reply_at_tail_template: str | Callable[[ReplyPromptArgs], str]
    reply_maybe_covered_template: str | Callable[[ReplyPromptArgs], str]
    duplicate_join_template: str | Callable[[JoinPromptArgs], str]
    timeout_template: str | Callable[[TimeoutPromptArgs], str]
    timeout: float | None
    idle_timeout: float | None


class ToolHandlingOptions(TypedDict, total=False):
    """Options given to a session, an agent or an ``AsyncToolset`` as ``tool_handling=``."""

    async_options: AsyncToolOptions


_UPDATE_DEFAULT: Final = (
    "Progress from tool `{function_name}`: {message}\n"
    "The tool is still working. Do not state or guess anything beyond this message."
)
_RUNNING_OPENING: Final = "`{function_name}` is already running:\n{running_calls_text}\n"
_REJECT_DEFAULT: Final = (
    _RUNNING_OPENING
    + "If the user explicitly asks to stop it, call `{cancel_tool}` with its call_id."
)
_CONFIRM_DEFAULT: Final = (
    _RUNNING_OPENING
    + "Only if the user explicitly wants a second run, call it again with `{confirm_param}` "
    "set to true. Only if the user explicitly wants to stop the running one, call "
    "`{cancel_tool}` with its call_id."
)
_REPLY_OPENING: Final = "Background tool calls have new results (call ids: {call_ids_text})."
_AT_TAIL_DEFAULT: Final = (
    _REPLY_OPENING
    + " Tell the user about them naturally, without repeating anything you already said."
)
_MAYBE_COVERED_DEFAULT: Final = (
    _REPLY_OPENING
    + " Your latest replies may already cover them. If you have already told the user "
    "everything they contain, answer with no text at all. Otherwise mention only what you "
    "have not said yet, with a natural transition, and never repeat yourself."
)

_JOIN_DEFAULT: Final = (
    "`{function_name}` was already running (call `{call_id}`), so this call joined it "
    "instead of starting a second run. Its answer so far:\n{answer}"
)
_TIMEOUT_DEFAULT: Final = (
    "`{function_name}` was stopped because it passed its {deadline_text}. It did not finish; "
    "tell the user it took too long and that its outcome is unknown."
)

_UPDATE_ARGS: Final = frozenset(UpdatePromptArgs.__annotations__)
_DUPLICATE_ARGS: Final = frozenset(DuplicatePromptArgs.__annotations__)
_REPLY_ARGS: Final = frozenset(ReplyPromptArgs.__annotations__)

_PLACEHOLDERS: Final[Mapping[str, frozenset[str]]] = {
    "update_template": _UPDATE_ARGS,
    "duplicate_reject_template": _DUPLICATE_ARGS,
    "duplicate_confirm_template": _DUPLICATE_ARGS,
    "reply_at_tail_template": _REPLY_ARGS,
    "reply_maybe_covered_template": _REPLY_ARGS,
    "duplicate_join_template": frozenset(JoinPromptArgs.__annotations__),
    "timeout_template": frozenset(TimeoutPromptArgs.__annotations__),
}
_SECONDS: Final = frozenset({"timeout", "idle_timeout"})  # DLN-3: not templates

_ArgsT = TypeVar(
    "_ArgsT",
    UpdatePromptArgs,
    DuplicatePromptArgs,
    ReplyPromptArgs,
    JoinPromptArgs,
    TimeoutPromptArgs,
)


def check_seconds(key: str, value: object) -> float | None:
    """Check a ``timeout``/``idle_timeout`` value (None, or a number > 0); return it.

    Raises:
        TypeError: Not a number.
        ValueError: Zero, negative or NaN.
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{key} must be a number of seconds or None, got {type(value).__name__}")
    if not value > 0:
        raise ValueError(f"{key} must be > 0 (math.inf for none), got {value!r}")
    return float(value)


def _check_template(key: str, template: object) -> None:
    if callable(template):
        return
    if not isinstance(template, str):
        raise TypeError(
            f"{key} must be a str.format template or a callable, got {type(template).__name__}"
        )
    allowed = _PLACEHOLDERS[key]
    try:
        fields = [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]
    except ValueError as exc:
        raise ValueError(f"{key} is not a valid str.format template: {exc}") from None
    for field in fields:
        root = field.split(".", 1)[0].split("[", 1)[0]
        if root not in allowed:
            shown = "{}" if root == "" else "{" + field + "}"
            raise ValueError(
                f"{key} names unknown placeholder {shown}; available: {', '.join(sorted(allowed))}"
            )


def render(template: str | Callable[[_ArgsT], str], args: _ArgsT) -> str:
    """Render a template with its arguments: ``str.format`` for a str, a call otherwise.

    Raises:
        TypeError: A callable template returned something other than a str.
    """
    if isinstance(template, str):
        return template.format_map(args)
    text = template(args)
    if not isinstance(text, str):
        raise TypeError(f"a template callable must return a str, got {type(text).__name__}")
    return text


@final
@attrs.frozen
class ToolOptions:
    """A complete, checked set of templates; build it with `ToolOptions.resolve`.

    Args:
        update_template: Wraps each progress update.
        duplicate_reject_template: Answers a duplicate call refused by ``on_duplicate="reject"``.
        duplicate_confirm_template: Asks the LLM to confirm a duplicate (``"confirm"``).
        reply_at_tail_template: Instructions for a deferred reply when the updates are the
            newest items of the conversation.
        reply_maybe_covered_template: Instructions for a deferred reply when something was
            said after the updates.
        duplicate_join_template: Answers a duplicate call that joined a running one
            (``"join"``).
        timeout_template: What the LLM is told when a call passed one of its deadlines.
        timeout: Seconds a call may run, for tools that set none (None: no limit).
        idle_timeout: Seconds a call may go without an update or heartbeat, for tools that
            set none (None: no limit).
    """

    update_template: str | Callable[[UpdatePromptArgs], str] = _UPDATE_DEFAULT
    duplicate_reject_template: str | Callable[[DuplicatePromptArgs], str] = _REJECT_DEFAULT
    duplicate_confirm_template: str | Callable[[DuplicatePromptArgs], str] = _CONFIRM_DEFAULT
    reply_at_tail_template: str | Callable[[ReplyPromptArgs], str] = _AT_TAIL_DEFAULT
    reply_maybe_covered_template: str | Callable[[ReplyPromptArgs], str] = _MAYBE_COVERED_DEFAULT
    duplicate_join_template: str | Callable[[JoinPromptArgs], str] = _JOIN_DEFAULT
    timeout_template: str | Callable[[TimeoutPromptArgs], str] = _TIMEOUT_DEFAULT
    timeout: float | None = None
    idle_timeout: float | None = None

    @classmethod
    def resolve(cls, options: AsyncToolOptions | Mapping[str, Any] | None = None) -> ToolOptions:
        """Check partial options and fill the missing keys from the library defaults.

        Raises:
            ValueError: An unknown key, or a template naming an unknown placeholder.
            TypeError: A template that is neither a str nor a callable.
        """
        if options is None:
            return _DEFAULTS
        if not isinstance(options, Mapping):
            raise TypeError(f"async tool options must be a mapping, got {type(options).__name__}")
        for key, template in options.items():
            if key in _SECONDS:
                check_seconds(key, template)
                continue
            if key not in _PLACEHOLDERS:
                raise ValueError(
                    f"unknown async tool option {key!r}; expected one of: "
                    f"{', '.join(sorted(_PLACEHOLDERS.keys() | _SECONDS))}"
                )
            _check_template(key, template)
        return cls(**options)

    @classmethod
    def from_tool_handling(
        cls, tool_handling: ToolHandlingOptions | Mapping[str, Any] | None
    ) -> ToolOptions | None:
        """Resolve the ``async_options`` of a ``tool_handling`` mapping; None when absent.

        Raises:
            ValueError: An unknown key at either level, or an unknown placeholder.
            TypeError: A value of the wrong type.
        """
        if tool_handling is None:
            return None
        if not isinstance(tool_handling, Mapping):
            raise TypeError(f"tool_handling must be a mapping, got {type(tool_handling).__name__}")
        unknown = set(tool_handling) - {"async_options"}
        if unknown:
            raise ValueError(f"unknown tool_handling key {min(unknown)!r}; expected: async_options")
        if "async_options" not in tool_handling:
            return None
        return cls.resolve(tool_handling["async_options"])

    def render_update(self, args: UpdatePromptArgs) -> str:
        """Render the update template."""
        return render(self.update_template, args)


_DEFAULTS: Final = ToolOptions()
