"""The properties of each charge model, defined once.

One msgspec Struct per model says which properties it takes, their names on the wire (camelCase,
from the snake_case field names), which are required (no default) and of what kind (a decimal, a
whole number, a list of ranges). Everything else is derived from these Structs:

* `domain.pricing.parse_properties` reads API input by them (and refuses any other property),
  and `properties_as_json` writes the stored form with their names;
* `ChargeProperties` below is every model's fields in one Struct: the stored JSON of any model
  decodes into it, and the GraphQL `ChargeProperties` type and `ChargePropertiesInput` have
  exactly its fields (a test compares them).

The Structs describe shape only; the rules (ranges without gaps, a rate is a percent, …) are in
`domain.pricing`.
"""

from __future__ import annotations

import enum
from decimal import Decimal
from typing import Any, cast

import msgspec

ZERO = Decimal(0)


class ChargeModel(enum.StrEnum):
    STANDARD = "STANDARD"
    GRADUATED = "GRADUATED"
    VOLUME = "VOLUME"
    PACKAGE = "PACKAGE"
    PERCENTAGE = "PERCENTAGE"
    GRADUATED_PERCENTAGE = "GRADUATED_PERCENTAGE"


class Shape(msgspec.Struct, rename="camel", omit_defaults=True):
    """Properties on the wire: camelCase names, decimals as strings (each shape is kw_only: msgspec does not
    inherit it, and a required field may then follow an optional one)."""


class GraduatedRange(Shape, kw_only=True):
    """A range of GRADUATED or VOLUME ranges (`to_value` None: open-ended)."""

    from_value: Decimal
    to_value: Decimal | None = None
    per_unit_amount: Decimal
    flat_amount: Decimal = ZERO


class PercentageRange(Shape, kw_only=True):
    """A range of GRADUATED_PERCENTAGE ranges; `rate` is a percent ("1.3" = 1.3%)."""

    from_value: Decimal
    to_value: Decimal | None = None
    rate: Decimal
    flat_amount: Decimal = ZERO


class Standard(Shape, kw_only=True):
    amount: Decimal


class Package(Shape, kw_only=True):
    amount: Decimal
    package_size: Decimal
    free_units: Decimal = ZERO


class Percentage(Shape, kw_only=True):
    rate: Decimal
    fixed_amount: Decimal = ZERO
    free_units_per_events: int | None = None
    free_units_per_total_aggregation: Decimal | None = None
    per_transaction_min_amount: Decimal | None = None
    per_transaction_max_amount: Decimal | None = None


class Graduated(Shape, kw_only=True):
    graduated_ranges: list[GraduatedRange]


class Volume(Shape, kw_only=True):
    volume_ranges: list[GraduatedRange]


class GraduatedPercentage(Shape, kw_only=True):
    graduated_percentage_ranges: list[PercentageRange]


SHAPES: dict[ChargeModel, type[Shape]] = {
    ChargeModel.STANDARD: Standard,
    ChargeModel.PACKAGE: Package,
    ChargeModel.PERCENTAGE: Percentage,
    ChargeModel.GRADUATED: Graduated,
    ChargeModel.VOLUME: Volume,
    ChargeModel.GRADUATED_PERCENTAGE: GraduatedPercentage,
}
RANGE_SHAPES: tuple[type[Shape], ...] = (GraduatedRange, PercentageRange)


def fields(shape: type[Shape]) -> tuple[msgspec.structs.FieldInfo, ...]:
    return msgspec.structs.fields(shape)


def wire_names(shape: type[Shape]) -> tuple[str, ...]:
    """The camelCase names of a shape's properties, in declared order."""
    return tuple(f.encode_name for f in fields(shape))


def wire_name(shape: type[Shape], name: str) -> str:
    """The camelCase name of one snake_case field."""
    return next(f.encode_name for f in fields(shape) if f.name == name)


def ranges_field(model: ChargeModel) -> msgspec.structs.FieldInfo | None:
    """The one list-of-ranges property of a range model (GRADUATED, VOLUME, GRADUATED_PERCENTAGE)."""
    found = [f for f in fields(SHAPES[model]) if _range_shape(f.type) is not None]
    return found[0] if found else None


def range_shape(model: ChargeModel) -> type[Shape]:
    field = ranges_field(model)
    shape = None if field is None else _range_shape(field.type)
    if shape is None:
        raise ValueError(f"{model} has no ranges")
    return shape


def range_shape_of(shape: type[Shape], name: str) -> type[Shape] | None:
    """The shape of the ranges a list-of-ranges field holds (None for any other field)."""
    return next((_range_shape(f.type) for f in fields(shape) if f.name == name), None)


def _range_shape(annotation: Any) -> type[Shape] | None:
    """X of `list[X]` or `list[X] | None`, when X is a range shape."""
    if annotation in RANGE_SHAPES:
        return annotation
    return next((found for arg in getattr(annotation, "__args__", ()) if (found := _range_shape(arg))), None)


def is_whole_number(shape: type[Shape], name: str) -> bool:
    """A count (e.g. freeUnitsPerEvents), not a decimal."""
    annotation = next(f.type for f in fields(shape) if f.name == name)
    return int in getattr(annotation, "__args__", (annotation,))


def _every_field() -> list[tuple[str, Any, Any]]:
    seen: dict[str, tuple[str, Any, Any]] = {}
    for shape in SHAPES.values():
        for f in fields(shape):
            if f.name not in seen:
                seen[f.name] = (f.name, f.type | None, None)
    return list(seen.values())


# Every model's properties in one Struct (all optional): what a stored properties object decodes into.
ChargeProperties = cast(
    type[Shape],
    msgspec.defstruct(
        "ChargeProperties", _every_field(), bases=(Shape,), module=__name__, kw_only=True, omit_defaults=True
    ),
)


def decode_stored(raw: Any) -> Any:
    """Stored properties (JSON of `properties_as_json`, any model) as a `ChargeProperties` Struct."""
    return msgspec.convert(raw, ChargeProperties, strict=False)
