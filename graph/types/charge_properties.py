"""Charge properties: one shape for every model; each model uses its own fields (SPEC §2)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import strawberry


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
        """From the stored JSON (camelCase keys, decimal strings)."""

        def dec(name: str) -> Decimal | None:
            return Decimal(raw[name]) if raw.get(name) is not None else None

        def ranges(name: str, kind: type, price: str) -> list | None:
            if raw.get(name) is None:
                return None
            return [
                kind(
                    from_value=Decimal(r["fromValue"]),
                    to_value=Decimal(r["toValue"]) if r.get("toValue") is not None else None,
                    flat_amount=Decimal(r.get("flatAmount") or 0),
                    **{("per_unit_amount" if price == "perUnitAmount" else "rate"): Decimal(r[price])},
                )
                for r in raw[name]
            ]

        free_events = raw.get("freeUnitsPerEvents")
        return cls(
            amount=dec("amount"),
            package_size=dec("packageSize"),
            free_units=dec("freeUnits"),
            rate=dec("rate"),
            fixed_amount=dec("fixedAmount"),
            free_units_per_events=int(free_events) if free_events is not None else None,
            free_units_per_total_aggregation=dec("freeUnitsPerTotalAggregation"),
            per_transaction_min_amount=dec("perTransactionMinAmount"),
            per_transaction_max_amount=dec("perTransactionMaxAmount"),
            graduated_ranges=ranges("graduatedRanges", GraduatedRange, "perUnitAmount"),
            volume_ranges=ranges("volumeRanges", GraduatedRange, "perUnitAmount"),
            graduated_percentage_ranges=ranges("graduatedPercentageRanges", GraduatedPercentageRange, "rate"),
        )


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
        """The camelCase mapping domain.pricing.parse_properties reads."""
        raw: dict[str, Any] = {}
        for name, value in vars(self).items():
            if value is None:
                continue
            key = name.split("_")[0] + "".join(p.title() for p in name.split("_")[1:])
            if isinstance(value, list):
                raw[key] = [
                    {k.split("_")[0] + "".join(p.title() for p in k.split("_")[1:]): v for k, v in vars(item).items()}
                    for item in value
                ]
            else:
                raw[key] = value
        return raw
