"""Declaring tools: ``@function_tool``, `FunctionTool`, `RawFunctionTool` (SPEC DEC-1..8).

Everything a call needs that depends only on the tool (its argument model, schemas, where the
context goes) is computed once, at decoration. A call then costs a validation and a function
call; nothing per call builds a class or a schema.

Tools defined in a class body are descriptors: reading one from an instance returns a tool
bound to that instance (cached on the instance), whose schema never includes ``self``.
"""

from __future__ import annotations

import copy
import inspect
import typing
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any, Final, Generic, ParamSpec, TypeAlias, TypeVar, final, overload

import attrs
import pydantic

from ._arguments import canonical_json, describe_validation_error
from ._chat import JSONValue
from ._context import RunContext
from ._docstrings import parse_docstring
from ._errors import InvalidArgumentsError
from ._info import DuplicateMode, DuplicateScope, ToolFlag, ToolInfo, check_name
from ._retry import RetryPolicy
from ._schema import (
    CONFIRM_PARAM,
    ArgumentModel,
    add_confirm_param,
    add_raw_confirm_param,
    build_argument_model,
    fields_validator,
    function_schema,
    resolve_hints,
    strict_schema,
    strip_nulls,
)

__all__ = [
    "FunctionTool",
    "PreparedArguments",
    "RawFunctionTool",
    "Tool",
    "function_tool",
    "is_tool",
]

P = ParamSpec("P")
R = TypeVar("R")

_RAW_PARAM: Final = "raw_arguments"
_EMPTY: Final = inspect.Parameter.empty


@final
@attrs.frozen
class PreparedArguments:
    """A call's arguments as admission sees them (SPEC EXE-5a, DUP-2, DUP-9).

    Args:
        arguments: Validated keyword arguments (function tools) or the argument object (raw
            tools); None when validation failed.
        error: The validation failure, raised inside the call's task; None when valid.
        confirm: Whether the LLM set the confirm parameter.
        key: The duplicate-detection key.
    """

    arguments: dict[str, Any] | None
    error: InvalidArgumentsError | None
    confirm: bool
    key: tuple[str, str | None]


def _is_run_context(annotation: object) -> bool:
    if annotation is RunContext:
        return True
    if typing.get_origin(annotation) is RunContext:
        return True
    return isinstance(annotation, type) and issubclass(annotation, RunContext)


def _is_method(fn: Callable[..., object]) -> bool:
    # A function defined in a class body has its class as the last qualname part before its
    # own name; one defined in a function has "<locals>" there.
    parts = getattr(fn, "__qualname__", "").split(".")
    return len(parts) >= 2 and parts[-2] != "<locals>"


@final
@attrs.frozen
class _Signature:
    self_param: str | None
    ctx_param: str | None
    params: list[inspect.Parameter]
    hints: dict[str, Any]


def _inspect(fn: Callable[..., object], tool_name: str) -> _Signature:
    if not inspect.iscoroutinefunction(fn):
        what = "a generator" if inspect.isasyncgenfunction(fn) else "not a coroutine function"
        raise TypeError(
            f"tool {tool_name!r} is {what}; define it with `async def` (tools are awaited)"
        )
    signature = inspect.signature(fn)
    hints = resolve_hints(fn)
    params = list(signature.parameters.values())
    self_param = None
    if _is_method(fn):
        first = params[0] if params else None
        if (
            first is None
            or first.name != "self"
            or first.kind
            not in (
                inspect.Parameter.POSITIONAL_ONLY,
                inspect.Parameter.POSITIONAL_OR_KEYWORD,
            )
        ):
            found = f"its first parameter is {first.name!r}" if first else "it has no parameters"
            raise TypeError(
                f"tool {tool_name!r} is defined in a class body but {found}; a tool method "
                "takes `self` first (or define the tool outside the class)"
            )
        self_param = params.pop(0).name
    ctx_param = None
    kept: list[inspect.Parameter] = []
    for param in params:
        if param.kind is inspect.Parameter.VAR_POSITIONAL:
            raise TypeError(
                f"tool {tool_name!r} takes *{param.name}; give it named parameters instead, "
                "one per argument the LLM should pass"
            )
        if param.kind is inspect.Parameter.VAR_KEYWORD:
            raise TypeError(
                f"tool {tool_name!r} takes **{param.name}; give it named parameters instead, "
                "or declare a raw tool with function_tool(raw_schema=...)"
            )
        if param.kind is inspect.Parameter.POSITIONAL_ONLY:
            raise TypeError(
                f"parameter {param.name!r} of tool {tool_name!r} is positional-only; remove "
                "the '/' so that it can be passed by name"
            )
        if param.name == CONFIRM_PARAM:
            raise TypeError(
                f"tool {tool_name!r} has a parameter named {CONFIRM_PARAM!r}, which is "
                "reserved for confirming duplicate calls; rename the parameter"
            )
        if _is_run_context(hints.get(param.name)):
            if ctx_param is not None:
                raise TypeError(
                    f"tool {tool_name!r} has two RunContext parameters ({ctx_param!r} and "
                    f"{param.name!r}); keep one"
                )
            ctx_param = param.name
            continue
        kept.append(param)
    return _Signature(self_param, ctx_param, kept, hints)


class _BoundTool:
    """Descriptor behaviour and direct calls shared by both tool kinds."""

    __slots__ = ("__weakref__", "_attr_name", "_fn", "_instance", "_is_method")

    _fn: Callable[..., Awaitable[Any]]
    _instance: object | None
    _is_method: bool
    _attr_name: str | None

    def __set_name__(self, owner: type, name: str) -> None:
        self._attr_name = name

    def _bind(self, instance: object) -> Any:
        raise NotImplementedError

    def _get(self, instance: object | None) -> Any:
        if instance is None or not self._is_method or self._instance is not None:
            return self
        name = self._attr_name
        cache = getattr(instance, "__dict__", None)
        if cache is not None and name is not None:
            bound = cache.get(name)
            if isinstance(bound, _BoundTool) and bound._fn is self._fn:
                return bound
        bound = self._bind(instance)
        if cache is not None and name is not None:
            cache[name] = bound
        return bound

    @property
    def identity(self) -> tuple[int, int]:
        """What makes two tool objects the same tool: the function and the bound instance."""
        return (id(self._fn), id(self._instance))

    @property
    def instance(self) -> object | None:
        """The instance a method tool is bound to, or None."""
        return self._instance

    @property
    def function(self) -> Callable[..., Awaitable[Any]]:
        """The decorated function (unbound)."""
        return self._fn

    def _call(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        kwargs.pop(CONFIRM_PARAM, None)  # DEC-7: the function never sees it
        if self._instance is not None:
            return self._fn(self._instance, *args, **kwargs)
        return self._fn(*args, **kwargs)


@final
class FunctionTool(_BoundTool, Generic[P, R]):
    """A tool built from an async function's signature by `function_tool`.

    Calling it directly calls the function (a confirm argument, if passed, is dropped).
    """

    __slots__ = (
        "_ctx_param",
        "_info",
        "_model",
        "_renames",
        "_schemas",
        "_validate",
        "_validate_fields",
    )

    def __init__(
        self,
        fn: Callable[P, Awaitable[R]],
        info: ToolInfo,
        model: ArgumentModel,
        ctx_param: str | None,
        *,
        is_method: bool,
    ) -> None:
        self._fn = fn
        self._info = info
        self._model = model
        self._ctx_param = ctx_param
        self._is_method = is_method
        self._instance = None
        self._attr_name = None
        self._renames = model.renames
        self._validate = model.model.__pydantic_validator__.validate_python
        # Unkeyed calls need only the field values, not a model instance.
        self._validate_fields = None if _keyed(info) else fields_validator(model.model)
        parameters = model.parameters
        if info.on_duplicate is DuplicateMode.CONFIRM:
            parameters = add_confirm_param(parameters)
        self._schemas = (parameters, strict_schema(parameters))

    def _bind(self, instance: object) -> FunctionTool[..., R]:
        bound: FunctionTool[..., R] = FunctionTool.__new__(FunctionTool)
        for slot in (*FunctionTool.__slots__, *_BoundTool.__slots__):
            if slot != "__weakref__":
                setattr(bound, slot, getattr(self, slot))
        bound._instance = instance
        return bound

    @overload
    def __get__(self, instance: None, owner: type | None = None) -> FunctionTool[P, R]: ...
    @overload
    def __get__(self, instance: object, owner: type | None = None) -> FunctionTool[..., R]: ...
    def __get__(self, instance: object | None, owner: type | None = None) -> FunctionTool[..., R]:
        bound: FunctionTool[..., R] = self._get(instance)
        return bound

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> Coroutine[Any, Any, R]:
        result: Coroutine[Any, Any, R] = self._call(args, kwargs)
        return result

    def __repr__(self) -> str:
        bound = " (bound)" if self._instance is not None else ""
        return f"<FunctionTool {self._info.name}{bound}>"

    @property
    def info(self) -> ToolInfo:
        """The tool's declared properties."""
        return self._info

    @property
    def name(self) -> str:
        """The name the LLM calls the tool by."""
        return self._info.name

    @property
    def context_parameter(self) -> str | None:
        """The name of the parameter that receives the `RunContext`, if any."""
        return self._ctx_param

    def schema(self, *, strict: bool = False) -> dict[str, JSONValue]:
        """Return an OpenAI-style function description: name, description, parameters.

        Args:
            strict: Return the strict variant (every property required, no additional
                properties, defaulted ones nullable).

        Returns:
            A fresh dict; changing it changes nothing in the tool.
        """
        return function_schema(
            self._info.name, self._info.description, self._schemas[strict], strict=strict
        )

    def prepare(self, arguments: dict[str, Any]) -> PreparedArguments:
        """Validate parsed arguments and compute the duplicate key (no checkpoint).

        The confirm parameter is removed first. ``null`` for a parameter with a default means
        the default, at every depth. A validation failure does not raise: it is returned, to be
        raised inside the call's task (DEC-8, DUP-9).
        """
        confirm = bool(arguments.pop(CONFIRM_PARAM, False))
        info = self._info
        plans = self._model.null_plan
        data = strip_nulls(arguments, self._model.model, plans) if plans else arguments
        validate_fields = self._validate_fields
        try:
            if validate_fields is not None:
                validated = None
                kwargs = validate_fields(data)
            else:
                validated = self._validate(data)
                kwargs = validated.__dict__
        except pydantic.ValidationError as exc:
            error = InvalidArgumentsError(
                info.name, describe_validation_error(exc, self._model.summary)
            )
            key = (info.name, canonical_json(arguments)) if _keyed(info) else info.unkeyed
            return PreparedArguments(None, error, confirm, key)
        if self._renames:
            kwargs = {self._renames.get(k, k): v for k, v in kwargs.items()}
        key = info.unkeyed
        if validated is not None and _keyed(info):
            try:
                dumped = validated.model_dump(mode="json")
                key = (info.name, canonical_json(dumped))
            except Exception:  # noqa: BLE001 - DUP-2 fails open to the raw arguments
                key = (info.name, canonical_json(arguments))
        return PreparedArguments(kwargs, None, confirm, key)

    def invoke(self, ctx: RunContext[Any], arguments: Mapping[str, Any]) -> Awaitable[Any]:
        """Call the function with validated arguments and the context; return its awaitable."""
        fn = self._fn
        if self._ctx_param is not None:
            arguments = {**arguments, self._ctx_param: ctx}
        if self._instance is not None:
            return fn(self._instance, **arguments)
        return fn(**arguments)


@final
class RawFunctionTool(_BoundTool):
    """A tool whose JSON schema is given by the caller; its function gets the raw arguments."""

    __slots__ = ("_ctx_param", "_info", "_raw_schema", "_schemas")

    def __init__(
        self,
        fn: Callable[..., Awaitable[Any]],
        info: ToolInfo,
        raw_schema: Mapping[str, Any],
        ctx_param: str | None,
        *,
        is_method: bool,
    ) -> None:
        self._fn = fn
        self._info = info
        self._raw_schema = copy.deepcopy(dict(raw_schema))
        self._ctx_param = ctx_param
        self._is_method = is_method
        self._instance = None
        self._attr_name = None
        parameters: dict[str, Any] = copy.deepcopy(dict(raw_schema["parameters"]))
        if info.on_duplicate is DuplicateMode.CONFIRM:
            parameters = add_raw_confirm_param(parameters)
        self._schemas = (parameters, parameters)

    def _bind(self, instance: object) -> RawFunctionTool:
        bound: RawFunctionTool = RawFunctionTool.__new__(RawFunctionTool)
        for slot in (*RawFunctionTool.__slots__, *_BoundTool.__slots__):
            if slot != "__weakref__":
                setattr(bound, slot, getattr(self, slot))
        bound._instance = instance
        return bound

    def __get__(self, instance: object | None, owner: type | None = None) -> RawFunctionTool:
        bound: RawFunctionTool = self._get(instance)
        return bound

    def __call__(self, *args: Any, **kwargs: Any) -> Coroutine[Any, Any, Any]:
        result: Coroutine[Any, Any, Any] = self._call(args, kwargs)
        return result

    def __repr__(self) -> str:
        return f"<RawFunctionTool {self._info.name}>"

    @property
    def info(self) -> ToolInfo:
        """The tool's declared properties."""
        return self._info

    @property
    def name(self) -> str:
        """The name the LLM calls the tool by."""
        return self._info.name

    @property
    def context_parameter(self) -> str | None:
        """The name of the parameter that receives the `RunContext`, if any."""
        return self._ctx_param

    @property
    def raw_schema(self) -> dict[str, Any]:
        """A copy of the schema the tool was declared with."""
        return copy.deepcopy(self._raw_schema)

    def schema(self, *, strict: bool = False) -> dict[str, JSONValue]:
        """Return the OpenAI-style function description (the caller's parameters, as given).

        With ``on_duplicate="confirm"`` the parameters also hold the confirm parameter.
        Raw schemas are never rewritten for strict mode; ``strict`` only marks the result.
        """
        return function_schema(
            self._info.name, self._info.description, self._schemas[strict], strict=strict
        )

    def prepare(self, arguments: dict[str, Any]) -> PreparedArguments:
        """Take the confirm parameter out and key the arguments as sent (DUP-2)."""
        confirm = bool(arguments.pop(CONFIRM_PARAM, False))
        info = self._info
        key = (info.name, canonical_json(arguments)) if _keyed(info) else info.unkeyed
        return PreparedArguments(arguments, None, confirm, key)

    def invoke(self, ctx: RunContext[Any], arguments: Mapping[str, Any]) -> Awaitable[Any]:
        """Call the function with the raw argument object and the context."""
        kwargs: dict[str, Any] = {_RAW_PARAM: dict(arguments)}
        if self._ctx_param is not None:
            kwargs[self._ctx_param] = ctx
        if self._instance is not None:
            return self._fn(self._instance, **kwargs)
        return self._fn(**kwargs)


Tool: TypeAlias = FunctionTool[..., Any] | RawFunctionTool
"""Any tool an agent, a toolset or an executor accepts."""


def is_tool(value: object) -> bool:
    """Return whether ``value`` is a tool (`FunctionTool` or `RawFunctionTool`)."""
    return isinstance(value, FunctionTool | RawFunctionTool)


def _keyed(info: ToolInfo) -> bool:
    return (
        info.on_duplicate is not DuplicateMode.ALLOW
        and info.duplicate_scope is DuplicateScope.NAME_AND_ARGS
    )


def _make_function_tool(
    fn: Callable[P, Awaitable[R]],
    *,
    name: str | None,
    description: str | None,
    flags: ToolFlag,
    on_duplicate: DuplicateMode | str,
    duplicate_scope: DuplicateScope | str,
    limits: dict[str, Any],
) -> FunctionTool[P, R]:
    tool_name = name if name is not None else getattr(fn, "__name__", None)
    if description is None:
        description = parse_docstring(fn.__doc__).description
    info = ToolInfo.build(
        name=tool_name,
        description=description,
        flags=flags,
        on_duplicate=on_duplicate,
        duplicate_scope=duplicate_scope,
        **limits,
    )
    signature = _inspect(fn, info.name)
    model = build_argument_model(
        fn, tool_name=info.name, params=signature.params, hints=signature.hints
    )
    return FunctionTool(
        fn, info, model, signature.ctx_param, is_method=signature.self_param is not None
    )


def _make_raw_tool(
    fn: Callable[..., Awaitable[Any]],
    *,
    raw_schema: Mapping[str, Any],
    flags: ToolFlag,
    on_duplicate: DuplicateMode | str,
    duplicate_scope: DuplicateScope | str,
    limits: dict[str, Any],
) -> RawFunctionTool:
    if not isinstance(raw_schema, Mapping):
        raise TypeError(f"raw_schema must be a mapping, got {type(raw_schema).__name__}")
    raw_name = raw_schema.get("name")
    if not raw_name:
        raise ValueError("raw_schema needs a non-empty 'name'")
    check_name(raw_name, "raw_schema name")
    if "parameters" not in raw_schema:
        raise ValueError(
            f"raw_schema of tool {raw_name!r} needs a 'parameters' key; use "
            '{"type": "object", "properties": {}} for a tool without arguments'
        )
    if not isinstance(raw_schema["parameters"], Mapping):
        raise TypeError(f"raw_schema 'parameters' of tool {raw_name!r} must be a JSON object")
    info = ToolInfo.build(
        name=raw_name,
        description=raw_schema.get("description"),
        flags=flags,
        on_duplicate=on_duplicate,
        duplicate_scope=duplicate_scope,
        **limits,
    )
    signature = _inspect(fn, info.name)
    names = [p.name for p in signature.params]
    if _RAW_PARAM not in names:
        raise TypeError(
            f"raw tool {info.name!r} must take a parameter named {_RAW_PARAM!r}; it receives "
            "the argument object"
        )
    extra = [n for n in names if n != _RAW_PARAM]
    if extra:
        raise TypeError(
            f"raw tool {info.name!r} takes {extra[0]!r}; a raw tool takes only "
            f"{_RAW_PARAM!r} and, optionally, a RunContext"
        )
    return RawFunctionTool(
        fn, info, raw_schema, signature.ctx_param, is_method=signature.self_param is not None
    )


@overload
def function_tool(
    fn: Callable[P, Awaitable[R]],
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    flags: ToolFlag = ToolFlag.NONE,
    on_duplicate: DuplicateMode | str = DuplicateMode.ALLOW,
    duplicate_scope: DuplicateScope | str = DuplicateScope.NAME,
    timeout: float | None = None,
    idle_timeout: float | None = None,
    retry: RetryPolicy | None = None,
) -> FunctionTool[P, R]: ...
@overload
def function_tool(
    fn: None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    flags: ToolFlag = ToolFlag.NONE,
    on_duplicate: DuplicateMode | str = DuplicateMode.ALLOW,
    duplicate_scope: DuplicateScope | str = DuplicateScope.NAME,
    timeout: float | None = None,
    idle_timeout: float | None = None,
    retry: RetryPolicy | None = None,
) -> Callable[[Callable[P, Awaitable[R]]], FunctionTool[P, R]]: ...
@overload
def function_tool(
    fn: Callable[..., Awaitable[Any]],
    /,
    *,
    raw_schema: Mapping[str, Any],
    flags: ToolFlag = ToolFlag.NONE,
    on_duplicate: DuplicateMode | str = DuplicateMode.ALLOW,
    duplicate_scope: DuplicateScope | str = DuplicateScope.NAME,
    timeout: float | None = None,
    idle_timeout: float | None = None,
    retry: RetryPolicy | None = None,
) -> RawFunctionTool: ...
@overload
def function_tool(
    fn: None = None,
    /,
    *,
    raw_schema: Mapping[str, Any],
    flags: ToolFlag = ToolFlag.NONE,
    on_duplicate: DuplicateMode | str = DuplicateMode.ALLOW,
    duplicate_scope: DuplicateScope | str = DuplicateScope.NAME,
    timeout: float | None = None,
    idle_timeout: float | None = None,
    retry: RetryPolicy | None = None,
) -> Callable[[Callable[..., Awaitable[Any]]], RawFunctionTool]: ...
def function_tool(
    fn: Callable[..., Awaitable[Any]] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    flags: ToolFlag = ToolFlag.NONE,
    on_duplicate: DuplicateMode | str = DuplicateMode.ALLOW,
    duplicate_scope: DuplicateScope | str = DuplicateScope.NAME,
    raw_schema: Mapping[str, Any] | None = None,
    timeout: float | None = None,
    idle_timeout: float | None = None,
    retry: RetryPolicy | None = None,
) -> Any:
    """Turn an async function (or method) into a tool the LLM can call.

    Use it bare (``@function_tool``) or with options (``@function_tool(name=...)``). The
    schema comes from the signature: types, defaults and constraints, with parameter
    descriptions from the docstring's ``Args:`` section or ``Annotated[..., Field(...)]``. A
    parameter annotated ``RunContext`` receives the call's context and is not in the schema.
    Nothing here blocks.

    Args:
        fn: The async function; omit it to get a decorator.
        name: The tool's name (default: the function's name).
        description: What the LLM is told (default: the docstring's text before its sections).
        flags: `ToolFlag` values, for instance ``ToolFlag.CANCELLABLE``.
        on_duplicate: What to do when the tool is called while an equal call runs:
            ``"allow"``, ``"reject"``, ``"replace"``, ``"confirm"`` or ``"join"``.
        duplicate_scope: Which running calls are equal: ``"name"`` (any call of the tool) or
            ``"name_and_args"`` (calls with equal validated arguments).
        raw_schema: Declare a raw tool instead: ``{"name", "description", "parameters"}``.
            The function then takes ``raw_arguments`` (the argument object, not validated).
        timeout: Seconds a call may run before it is cancelled and the LLM told so
            (default: the executor's ``timeout`` option; ``math.inf``: no limit).
        idle_timeout: Seconds a call may go without ``ctx.update()`` or
            ``ctx.heartbeat()`` before it is cancelled the same way (default: the executor's
            ``idle_timeout`` option; ``math.inf``: no limit).
        retry: A `RetryPolicy` for transient failures; the tool must have the
            ``ToolFlag.IDEMPOTENT`` flag.

    Returns:
        A `FunctionTool` (or `RawFunctionTool`), or a decorator making one.

    Raises:
        TypeError: The function is not a coroutine function, takes ``*args``/``**kwargs``,
            has an unannotated parameter, or a parameter named like the reserved confirm
            parameter.
        ValueError: An unknown ``on_duplicate``/``duplicate_scope``, an unusable name, a
            raw schema without a name or parameters, a timeout that is not > 0, or a retry
            policy on a tool not flagged idempotent.
    """
    if raw_schema is not None and (name is not None or description is not None):
        raise TypeError("a raw tool takes its name and description from raw_schema")
    limits: dict[str, Any] = {"timeout": timeout, "idle_timeout": idle_timeout, "retry": retry}

    def decorate(func: Callable[..., Awaitable[Any]]) -> Tool:
        if raw_schema is not None:
            return _make_raw_tool(
                func,
                raw_schema=raw_schema,
                flags=flags,
                on_duplicate=on_duplicate,
                duplicate_scope=duplicate_scope,
                limits=limits,
            )
        return _make_function_tool(
            func,
            name=name,
            description=description,
            flags=flags,
            on_duplicate=on_duplicate,
            duplicate_scope=duplicate_scope,
            limits=limits,
        )

    if fn is None:
        return decorate
    return decorate(fn)
