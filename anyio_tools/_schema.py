"""Argument models and JSON schemas built once per tool from its signature (SPEC DEC-1, DEC-6, DEC-7).

pydantic builds one model per tool at decoration; the OpenAI-style parameter schemas (plain and
strict) are derived from it then, never per call. The strict variant lists every property as
required, forbids additional properties and makes defaulted properties nullable, at every depth.
"""

from __future__ import annotations

import copy
import inspect
import typing
from collections.abc import Callable, Iterator, Mapping
from typing import Annotated, Any, Final, NotRequired, Required, cast, final

import attrs
import pydantic
from pydantic import BaseModel, ConfigDict, Field
from pydantic_core import SchemaValidator
from typing_extensions import TypedDict

from ._chat import JSONValue
from ._docstrings import parse_docstring

__all__ = [
    "CONFIRM_PARAM",
    "ArgumentModel",
    "FieldsValidator",
    "add_confirm_param",
    "add_raw_confirm_param",
    "build_argument_model",
    "fields_validator",
    "function_schema",
    "resolve_hints",
    "strict_schema",
    "strip_nulls",
]

CONFIRM_PARAM: Final = "anyio_tools_confirm_duplicate"
"""The boolean parameter added to tools with ``on_duplicate="confirm"`` (DEC-7)."""

_CONFIRM_DESCRIPTION: Final = "Set to true only when the user confirms that a second run is wanted."

_JSONSchema = dict[str, Any]


@final
@attrs.frozen
class ArgumentModel:
    """The validation model and schema of one tool's parameters.

    Args:
        model: The pydantic model; its fields are the tool's parameters.
        parameters: The JSON schema of the parameters (non-strict form).
        null_plan: For each model class, the fields where ``null`` means "use the default",
            and the nested model classes to visit.
        summary: ``name (type, required)`` entries used in error messages.
        renames: Field name to parameter name, where pydantic needed another field name.
    """

    model: type[BaseModel]
    parameters: _JSONSchema
    null_plan: Mapping[type[BaseModel], _NullPlan]
    summary: str
    renames: Mapping[str, str]


@final
@attrs.frozen
class _NullPlan:
    defaulted: frozenset[str]
    nested: Mapping[str, type[BaseModel]]


def _model_classes(annotation: object) -> Iterator[type[BaseModel]]:
    """Yield the pydantic model classes an annotation can hold (directly or in containers)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
        return
    for arg in typing.get_args(annotation):
        yield from _model_classes(arg)


def _build_null_plans(root: type[BaseModel]) -> dict[type[BaseModel], _NullPlan]:
    plans: dict[type[BaseModel], _NullPlan] = {}
    pending = [root]
    while pending:
        model = pending.pop()
        if model in plans:
            continue
        defaulted: set[str] = set()
        nested: dict[str, type[BaseModel]] = {}
        for name, field in model.model_fields.items():
            key = field.alias or name
            if not field.is_required() and field.default is not None:
                defaulted.add(key)
            classes = list(_model_classes(field.annotation))
            if len(classes) == 1:
                nested[key] = classes[0]
                pending.append(classes[0])
        plans[model] = _NullPlan(frozenset(defaulted), nested)
    return {model: plan for model, plan in plans.items() if plan.defaulted or plan.nested}


def strip_nulls(
    value: object, model: type[BaseModel], plans: Mapping[type[BaseModel], _NullPlan]
) -> object:
    """Drop ``null`` values of defaulted fields, at every depth (DEC-6: null means default)."""
    plan = plans.get(model)
    if plan is None:
        return value
    if isinstance(value, list):
        return [strip_nulls(item, model, plans) for item in value]
    if not isinstance(value, dict):
        return value
    result: dict[str, object] = {}
    for key, item in value.items():
        if item is None and key in plan.defaulted:
            continue
        nested = plan.nested.get(key)
        if nested is not None and item is not None:
            if isinstance(item, dict) and all(isinstance(k, str) for k in item):
                item = strip_nulls(item, nested, plans)
            elif isinstance(item, list):
                item = [strip_nulls(element, nested, plans) for element in item]
        result[key] = item
    return result


def _type_name(schema: Mapping[str, Any]) -> str:
    if "type" in schema:
        kind = schema["type"]
        return " or ".join(kind) if isinstance(kind, list) else str(kind)
    if "enum" in schema:
        return "one of " + ", ".join(repr(v) for v in schema["enum"])
    if "$ref" in schema:
        return "object " + str(schema["$ref"]).rsplit("/", 1)[-1]
    if "anyOf" in schema:
        return " or ".join(_type_name(s) for s in schema["anyOf"])
    return "any value"


def _summary(parameters: Mapping[str, Any]) -> str:
    required = set(parameters.get("required", ()))
    entries = []
    for name, prop in parameters.get("properties", {}).items():
        if name in required:
            entries.append(f"{name} ({_type_name(prop)}, required)")
        else:
            entries.append(f"{name} ({_type_name(prop)}, default {prop.get('default')!r})")
    return ", ".join(entries) or "no arguments"


def _strip_titles(schema: object) -> None:
    """Remove pydantic's generated ``title`` keywords (never a property called "title")."""
    if isinstance(schema, dict):
        schema.pop("title", None)
        for key, value in schema.items():
            if key in ("properties", "$defs", "definitions") and isinstance(value, dict):
                for sub in value.values():
                    _strip_titles(sub)
            else:
                _strip_titles(value)
    elif isinstance(schema, list):
        for item in schema:
            _strip_titles(item)


def resolve_hints(fn: Callable[..., object]) -> dict[str, Any]:
    """Return a function's resolved annotations (strings evaluated), extras kept.

    Raises:
        TypeError: An annotation names something that cannot be found.
    """
    try:
        return typing.get_type_hints(fn, include_extras=True)
    except Exception as exc:
        raise TypeError(
            f"cannot resolve the type annotations of {fn.__qualname__}: {exc}; define the "
            "types it uses at module level"
        ) from exc


def _field_name(index: int, name: str) -> str:
    # Parameter names pydantic cannot use as field names (private-looking, or shadowing a
    # BaseModel attribute such as `json` or `schema`) get a safe field name and an alias.
    if name.startswith(("_", "model_")) or hasattr(BaseModel, name):
        return f"p{index}_{name.lstrip('_')}"
    return name


def build_argument_model(
    fn: Callable[..., object],
    *,
    tool_name: str,
    params: list[inspect.Parameter],
    hints: Mapping[str, Any],
) -> ArgumentModel:
    """Build the validation model and parameter schema of a function tool.

    Args:
        fn: The tool function (its docstring gives parameter descriptions).
        tool_name: Used for the model's name and for error messages.
        params: The parameters that are part of the schema, in order.
        hints: The function's resolved annotations.

    Raises:
        TypeError: A parameter has no annotation, or its type cannot be described.
    """
    doc = parse_docstring(fn.__doc__)
    fields: dict[str, Any] = {}
    renames: dict[str, str] = {}
    for index, param in enumerate(params):
        name = param.name
        if name not in hints:
            raise TypeError(
                f"parameter {name!r} of tool {tool_name!r} has no type annotation; annotate "
                f"it (for instance `{name}: str`) so that its schema can be built"
            )
        annotation = hints[name]
        description = doc.params.get(name)
        if description is not None and not _has_description(annotation):
            annotation = Annotated[annotation, Field(description=description)]
        default = ... if param.default is inspect.Parameter.empty else param.default
        field_name = _field_name(index, name)
        if field_name != name:
            renames[field_name] = name
            fields[field_name] = (annotation, Field(default, alias=name))
        else:
            fields[name] = (annotation, default)
    try:
        model = pydantic.create_model(
            tool_name,
            __config__=ConfigDict(extra="forbid", populate_by_name=False),
            **fields,
        )
        parameters = model.model_json_schema()
    except (pydantic.PydanticUserError, pydantic.errors.PydanticSchemaGenerationError) as exc:
        raise TypeError(f"cannot build the schema of tool {tool_name!r}: {exc}") from exc
    _strip_titles(parameters)
    parameters.setdefault("properties", {})
    return ArgumentModel(
        model=model,
        parameters=parameters,
        null_plan=_build_null_plans(model),
        summary=_summary(parameters),
        renames=renames,
    )


# The functional form of ``typing_extensions.TypedDict`` (which pydantic accepts on every
# supported Python), typed loosely: mypy only checks that form with literal arguments.
_new_typed_dict: Final[Any] = TypedDict

FieldsValidator = Callable[[object], dict[str, Any]]
"""Validates an argument object into the dict of field values, without building a model."""


def fields_validator(model: type[BaseModel]) -> FieldsValidator | None:
    """Return a validator of ``model``'s fields that skips building the model instance.

    Validation (coercion, defaults, aliases, errors) stays pydantic's: the validator is a
    `pydantic.TypeAdapter` of a ``TypedDict`` with the model's own fields (each its
    ``FieldInfo``, through ``model_fields``) and configuration. Keys are field names, as in
    the model's ``__dict__``. Public pydantic API only (issue #11). Returns None when pydantic
    cannot build it, where the model itself must validate.
    """
    annotations: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        kind = Required if field.is_required() else NotRequired
        annotations[name] = kind[Annotated[field.annotation, field]]
    try:
        shape: Any = _new_typed_dict(model.__name__, annotations)
        configured: Any = pydantic.with_config(ConfigDict(**model.model_config))(shape)
        adapter = pydantic.TypeAdapter[dict[str, Any]](configured)
    except (pydantic.PydanticUserError, pydantic.errors.PydanticSchemaGenerationError):
        return None
    # The adapter's built validator (its public ``validator``) called directly: one frame
    # and one keyword dispatch less per call (issue #19). A validator whose build is deferred
    # goes through the adapter.
    validator = adapter.validator
    if isinstance(validator, SchemaValidator):
        return cast(FieldsValidator, validator.validate_python)
    return cast(FieldsValidator, adapter.validate_python)


def _has_description(annotation: object) -> bool:
    if typing.get_origin(annotation) is not Annotated:
        return False
    return any(
        isinstance(meta, pydantic.fields.FieldInfo) and meta.description
        for meta in typing.get_args(annotation)[1:]
    )


def add_confirm_param(parameters: _JSONSchema) -> _JSONSchema:
    """Return a copy of a parameter schema with the confirm parameter added (DEC-7).

    Non-strict form: optional, default false. Strict schemas get it required and nullable
    from `strict_schema`. The input is never mutated.
    """
    result = copy.deepcopy(parameters)
    properties = result.setdefault("properties", {})
    properties[CONFIRM_PARAM] = {
        "type": "boolean",
        "description": _CONFIRM_DESCRIPTION,
        "default": False,
    }
    return result


def add_raw_confirm_param(parameters: Mapping[str, Any]) -> _JSONSchema:
    """Return a copy of a raw tool's parameters with the confirm parameter required (DEC-7)."""
    result = copy.deepcopy(dict(parameters))
    result.setdefault("type", "object")
    result.setdefault("properties", {})[CONFIRM_PARAM] = {
        "type": ["boolean", "null"],
        "description": _CONFIRM_DESCRIPTION,
    }
    required = list(result.get("required", []))
    if CONFIRM_PARAM not in required:
        required.append(CONFIRM_PARAM)
    result["required"] = required
    return result


def _make_nullable(schema: _JSONSchema) -> _JSONSchema:
    if "anyOf" in schema:
        if not any(s.get("type") == "null" for s in schema["anyOf"] if isinstance(s, dict)):
            schema["anyOf"].append({"type": "null"})
        return schema
    kind = schema.get("type")
    if isinstance(kind, str) and "enum" not in schema and "$ref" not in schema:
        if kind != "null":
            schema["type"] = [kind, "null"]
        return schema
    if isinstance(kind, list):
        if "null" not in kind:
            kind.append("null")
            if "enum" in schema and None not in schema["enum"]:
                schema["enum"].append(None)
        return schema
    outer: _JSONSchema = {}
    if "description" in schema:
        outer["description"] = schema.pop("description")
    outer["anyOf"] = [schema, {"type": "null"}]
    return outer


def _strictify(schema: object, defs: Mapping[str, Any]) -> object:
    if isinstance(schema, list):
        return [_strictify(item, defs) for item in schema]
    if not isinstance(schema, dict):
        return schema
    schema = dict(schema)
    if "$ref" in schema and len(schema) > 1:
        # Strict mode rejects keywords beside $ref: inline the definition instead.
        target = defs.get(str(schema.pop("$ref")).rsplit("/", 1)[-1], {})
        schema = {**copy.deepcopy(target), **schema}
    for key in ("items", "anyOf", "allOf", "oneOf", "prefixItems", "additionalProperties"):
        if key in schema and not isinstance(schema[key], bool):
            schema[key] = _strictify(schema[key], defs)
    if schema.get("type") == "object" or "properties" in schema:
        properties = schema.get("properties", {})
        required = set(schema.get("required", ()))
        new_properties: dict[str, Any] = {}
        for name, prop in properties.items():
            strict_prop = _strictify(prop, defs)
            if name not in required and isinstance(strict_prop, dict):
                strict_prop.pop("default", None)
                strict_prop = _make_nullable(strict_prop)
            new_properties[name] = strict_prop
        schema["properties"] = new_properties
        schema["required"] = list(new_properties)
        schema["additionalProperties"] = False
    return schema


def strict_schema(parameters: Mapping[str, Any]) -> _JSONSchema:
    """Return the strict variant of a parameter schema (DEC-6); the input is not mutated.

    Every property is required, additional properties are forbidden, and properties that had
    a default become nullable (``null`` means "use the default"), also inside nested models.
    """
    defs = parameters.get("$defs", {})
    result = _strictify(copy.deepcopy(dict(parameters)), defs)
    assert isinstance(result, dict)
    if "$defs" in result:
        result["$defs"] = {name: _strictify(d, defs) for name, d in result["$defs"].items()}
    return result


def function_schema(
    name: str, description: str | None, parameters: Mapping[str, Any], *, strict: bool
) -> dict[str, JSONValue]:
    """Assemble an OpenAI-style function description around a parameter schema."""
    result: dict[str, JSONValue] = {"name": name}
    if description:
        result["description"] = description
    result["parameters"] = copy.deepcopy(dict(parameters))
    if strict:
        result["strict"] = True
    return result
