"""What a tool declares about itself: flags, duplicate policy, name, deadlines, retries (SPEC
DEC-1, DEC-2, DEC-5; issue #16: DLN-3, RTY-1)."""

from __future__ import annotations

import enum
import re
from typing import Final, final

import attrs

from ._options import check_seconds
from ._retry import RetryPolicy

__all__ = ["DuplicateMode", "DuplicateScope", "ToolFlag", "ToolInfo"]

_NAME: Final = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class ToolFlag(enum.Flag):
    """Properties of a tool; combine them with ``|``."""

    NONE = 0
    """No special behaviour."""
    CANCELLABLE = enum.auto()
    """The call may be cancelled by the LLM, by a replacing duplicate, and at handoff."""
    IGNORE_ON_ENTER = enum.auto()
    """The host hides the tool while an agent's on-enter reply runs."""
    IDEMPOTENT = enum.auto()
    """Running the tool twice with the same arguments does no harm: it may be retried."""


class DuplicateMode(enum.StrEnum):
    """What happens when a tool is called while an equal call of it is still running."""

    ALLOW = "allow"
    """Run both."""
    REJECT = "reject"
    """Refuse the new call, telling the LLM which call is running."""
    REPLACE = "replace"
    """Cancel the running call, wait for it to end, then run the new one."""
    CONFIRM = "confirm"
    """Refuse the new call unless the LLM confirms the user wants a second run."""
    JOIN = "join"
    """Do not run the new call: answer it like the running call, which it joins."""


class DuplicateScope(enum.StrEnum):
    """Which running calls count as equal for `DuplicateMode`."""

    NAME = "name"
    """Any running call of the same tool."""
    NAME_AND_ARGS = "name_and_args"
    """Running calls of the same tool with equal validated arguments."""


def _choice(enum_type: type[enum.StrEnum], value: object, what: str) -> enum.StrEnum:
    if isinstance(value, enum_type):
        return value
    if not isinstance(value, str):
        choices = ", ".join(repr(member.value) for member in enum_type)
        raise TypeError(f"{what} must be one of {choices}, got {value!r}")
    try:
        return enum_type(value)
    except ValueError:
        choices = ", ".join(repr(member.value) for member in enum_type)
        raise ValueError(f"{what} must be one of {choices}, got {value!r}") from None


def check_name(name: object, what: str = "tool name") -> str:
    """Check a tool name against what LLM APIs accept; return it.

    Raises:
        TypeError: The name is not a str.
        ValueError: The name is empty, too long or has characters APIs reject.
    """
    if not isinstance(name, str):
        raise TypeError(f"{what} must be a str, got {type(name).__name__}")
    if not _NAME.match(name):
        raise ValueError(
            f"{what} {name!r} is not usable; expected 1 to 64 letters, digits, '_' or '-'"
        )
    return name


@final
@attrs.frozen
class ToolInfo:
    """The declared properties of a tool.

    Args:
        name: The name the LLM calls it by.
        description: What the LLM is told the tool does.
        flags: `ToolFlag` values.
        on_duplicate: The duplicate policy.
        duplicate_scope: Which running calls count as duplicates.
        timeout: Seconds a call may run (None: the executor's option decides).
        idle_timeout: Seconds a call may go without an update or heartbeat (None: the
            executor's option decides).
        retry: How calls retry failures (idempotent tools only), or None.
    """

    name: str
    description: str | None = None
    flags: ToolFlag = ToolFlag.NONE
    on_duplicate: DuplicateMode = DuplicateMode.ALLOW
    duplicate_scope: DuplicateScope = DuplicateScope.NAME
    timeout: float | None = None
    idle_timeout: float | None = None
    retry: RetryPolicy | None = None

    @classmethod
    def build(
        cls,
        *,
        name: object,
        description: str | None,
        flags: object,
        on_duplicate: object,
        duplicate_scope: object,
        timeout: object = None,
        idle_timeout: object = None,
        retry: object = None,
    ) -> ToolInfo:
        """Check declared options and build the info.

        Raises:
            ValueError: An unknown duplicate mode or scope, an unusable name, a timeout that
                is not > 0, or a retry policy on a tool not flagged idempotent.
            TypeError: Flags that are not a `ToolFlag`, a name that is not a str, a timeout
                that is not a number, or a retry that is not a `RetryPolicy`.
        """
        if not isinstance(flags, ToolFlag):
            raise TypeError(f"flags must be a ToolFlag, got {type(flags).__name__}")
        if description is not None and not isinstance(description, str):
            raise TypeError(f"description must be a str, got {type(description).__name__}")
        mode = _choice(DuplicateMode, on_duplicate, "on_duplicate")
        scope = _choice(DuplicateScope, duplicate_scope, "duplicate_scope")
        assert isinstance(mode, DuplicateMode)
        assert isinstance(scope, DuplicateScope)
        checked = check_name(name)
        if retry is not None:
            if not isinstance(retry, RetryPolicy):
                raise TypeError(f"retry must be a RetryPolicy or None, got {type(retry).__name__}")
            if not flags & ToolFlag.IDEMPOTENT:  # RTY-1
                raise ValueError(
                    f"tool {checked!r} has a retry policy but is not declared idempotent; "
                    "add flags=ToolFlag.IDEMPOTENT (only idempotent tools may be retried)"
                )
        return cls(
            checked,
            description,
            flags,
            mode,
            scope,
            check_seconds("timeout", timeout),
            check_seconds("idle_timeout", idle_timeout),
            retry,
        )

    cancellable: bool = attrs.field(init=False, eq=False, repr=False)
    """Whether the tool has the `ToolFlag.CANCELLABLE` flag."""

    @cancellable.default
    def _cancellable(self) -> bool:
        return bool(self.flags & ToolFlag.CANCELLABLE)

    unkeyed: tuple[str, None] = attrs.field(init=False, eq=False, repr=False)
    """The duplicate key of every call when arguments do not matter (built once)."""

    @unkeyed.default
    def _unkeyed(self) -> tuple[str, None]:
        return (self.name, None)

    guarded: bool = attrs.field(init=False, eq=False, repr=False)
    """Whether the tool declares a deadline or a retry policy (a call then needs a guard)."""

    @guarded.default
    def _guarded(self) -> bool:
        return self.timeout is not None or self.idle_timeout is not None or self.retry is not None
