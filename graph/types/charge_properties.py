"""Charge properties: one shape for every model; each model uses its own fields.

The fields are those of `domain.charge_models.ChargeProperties` (tests/graph/test_charge_properties_shape.py
holds the two together); reading and writing them goes through that module.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import strawberry

from domain import charge_models


@strawberry.type
class GraduatedRange:
    from_value: Decimal
    to_value: Decimal | None
    per_unit_amount: Decimal
    flat_amount: Decimal


@strawberry.type
class GraduatedPercentageRange:
    from_value: Decimal
    to_value: Decimal | None
    rate: Decimal
    flat_amount: Decimal


@strawberry.type
class ChargeProperties:
    amount: Decimal | None = None
    package_size: Decimal | None = None
    free_units: Decimal | None = None
    rate: Decimal | None = None
    fixed_amount: Decimal | None = None
    free_units_per_events: int | None = None
    free_units_per_total_aggregation: Decimal | None = None
    per_transaction_min_amount: Decimal | None = None
    per_transaction_max_amount: Decimal | None = None
    graduated_ranges: list[GraduatedRange] | None = None
    volume_ranges: list[GraduatedRange] | None = None
    graduated_percentage_ranges: list[GraduatedPercentageRange] | None = None

    @classmethod
    def of(cls, raw: dict[str, Any]) -> ChargeProperties:
        """From the stored JSON (camelCase keys, decimal strings), read by domain/charge_models.py."""
        stored = charge_models.decode_stored(raw)
        values = {f.name: getattr(stored, f.name) for f in charge_models.fields(charge_models.ChargeProperties)}
        for name, value in values.items():
            if isinstance(value, list):
                values[name] = [
                    _RANGE_TYPES[type(r)](**{f.name: getattr(r, f.name) for f in charge_models.fields(type(r))})
                    for r in value
                ]
        return cls(**values)


# The GraphQL type of each range shape of domain/charge_models.py.
_RANGE_TYPES: dict[type, type] = {
    charge_models.GraduatedRange: GraduatedRange,
    charge_models.PercentageRange: GraduatedPercentageRange,
}


@strawberry.input
class GraduatedRangeInput:
    from_value: Decimal
    to_value: Decimal | None
    per_unit_amount: Decimal
    flat_amount: Decimal = Decimal(0)


@strawberry.input
class GraduatedPercentageRangeInput:
    from_value: Decimal
    to_value: Decimal | None
    rate: Decimal
    flat_amount: Decimal = Decimal(0)


@strawberry.input(description="Set the fields of the charge's model only; others are refused.")
class ChargePropertiesInput:
    amount: Decimal | None = None
    package_size: Decimal | None = None
    free_units: Decimal | None = None
    rate: Decimal | None = None
    fixed_amount: Decimal | None = None
    free_units_per_events: int | None = None
    free_units_per_total_aggregation: Decimal | None = None
    per_transaction_min_amount: Decimal | None = None
    per_transaction_max_amount: Decimal | None = None
    graduated_ranges: list[GraduatedRangeInput] | None = None
    volume_ranges: list[GraduatedRangeInput] | None = None
    graduated_percentage_ranges: list[GraduatedPercentageRangeInput] | None = None

    def as_raw(self) -> dict[str, Any]:
        """The camelCase mapping domain.pricing.parse_properties reads (names from domain/charge_models.py)."""
        raw: dict[str, Any] = {}
        for f in charge_models.fields(charge_models.ChargeProperties):
            value = getattr(self, f.name)
            if value is None:
                continue
            shape = charge_models.range_shape_of(charge_models.ChargeProperties, f.name)
            if shape is not None:
                raw[f.encode_name] = [
                    {r.encode_name: getattr(item, r.name) for r in charge_models.fields(shape)} for item in value
                ]
            else:
                raw[f.encode_name] = value
        return raw
