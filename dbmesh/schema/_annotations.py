"""Reading a schema module's annotations (docs/reference.md §4 "Types").

Annotations are resolved with `typing.get_type_hints` against the module's namespace, so string
forward references (`-> list['Order']`) work. A name that is defined nowhere resolves to an
`Undefined` placeholder class instead of raising, so the loader can say which type is missing (or,
for a composite root field, leave the field out with a warning).
"""

from __future__ import annotations

import builtins
import types
import typing
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, NoReturn
from uuid import UUID

from dbmesh.schema.model import Scalar

__all__ = ["Fail", "Hints", "Shape", "Undefined", "column_scalar", "describe", "return_shape", "split"]

Fail = Callable[[str], NoReturn]

SCALARS: dict[Any, Scalar] = {
    str: Scalar.STRING,
    int: Scalar.INT,
    float: Scalar.FLOAT,
    bool: Scalar.BOOLEAN,
    UUID: Scalar.ID,
    datetime: Scalar.DATETIME,
    date: Scalar.DATE,
    Decimal: Scalar.DECIMAL,
    dict: Scalar.JSON,
}


class Undefined:
    """Base of the placeholder classes that stand for names defined nowhere."""


class _Names(Mapping[str, Any]):
    """The `localns` of `get_type_hints`: the declared object types first; names of the module
    and builtins are left to `eval`; any other name becomes an `Undefined` placeholder."""

    def __init__(self, module: Mapping[str, Any], declared: Mapping[str, type]) -> None:
        self._module = module
        self._declared = declared
        self._undefined: dict[str, type[Undefined]] = {}

    def __getitem__(self, name: str) -> Any:
        if name in self._declared:
            return self._declared[name]
        if name in self._module or hasattr(builtins, name):
            raise KeyError(name)
        if name not in self._undefined:
            self._undefined[name] = type(name, (Undefined,), {})
        return self._undefined[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._declared)

    def __len__(self) -> int:
        return len(self._declared)


class Hints:
    """Resolves the annotations of the classes and functions of one schema module."""

    def __init__(self, module: Mapping[str, Any], declared: Mapping[str, type]) -> None:
        self._globals = dict(module)
        self._locals = _Names(module, declared)

    def of(self, obj: Any, fail: Fail) -> dict[str, Any]:
        try:
            return typing.get_type_hints(obj, globalns=self._globals, localns=self._locals)
        except Exception as exc:
            fail(f"cannot resolve its annotations: {type(exc).__name__}: {' '.join(str(exc).splitlines())}")


def describe(annotation: Any) -> str:
    """An annotation as the user wrote it, more or less: `list[Order] | None`, `set[str]`."""
    if annotation is None or annotation is type(None):
        return "None"
    if isinstance(annotation, str):
        return annotation
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(describe(a) for a in args)
    if origin is not None and args:
        name = getattr(origin, "__name__", None) or str(origin).replace("typing.", "")
        return f"{name}[{', '.join(describe(a) for a in args)}]"
    if isinstance(annotation, type):
        return annotation.__name__
    return repr(annotation).replace("typing.", "")


def split(annotation: Any) -> tuple[Any, bool, bool]:
    """`(inner, is_list, nullable)`: `X` → (X, False, False), `X | None` → (X, False, True),
    `list[X] | None` → (X, True, True). An inner `X | None` of a list stays in `inner`."""
    nullable = False
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1 and len(args) < len(typing.get_args(annotation)):
            annotation, nullable = args[0], True
    if typing.get_origin(annotation) is list and len(typing.get_args(annotation)) == 1:
        return typing.get_args(annotation)[0], True, nullable
    return annotation, False, nullable


def column_scalar(annotation: Any) -> tuple[Scalar, bool] | None:
    """`(scalar, nullable)` of a column annotation (`dict[...]` is JSON too), or None."""
    inner, is_list, nullable = split(annotation)
    if is_list:
        return None
    if typing.get_origin(inner) is dict:
        inner = dict
    scalar = SCALARS.get(inner)
    return None if scalar is None else (scalar, nullable)


@dataclass(frozen=True)
class Shape:
    """What a root field or relation returns."""

    target: type  # an object type, or an Undefined placeholder
    many: bool
    item_nullable: bool


def return_shape(annotation: Any) -> Shape | None:
    """The shape of `T`, `T | None`, `list[T]`, `list[T | None]` with T a class, or None."""
    inner, many, _ = split(annotation)
    item_nullable = False
    if many:
        inner, nested_list, item_nullable = split(inner)
        if nested_list:
            return None
    if not isinstance(inner, type) or typing.get_origin(inner) is not None:
        return None
    return Shape(inner, many, item_nullable)
