"""Charge models: what a charge costs for the units of one period.

Every model returns a `ChargeFee` whose amount is *unrounded*; an invoice line rounds it
once with `money.round_minor` (or `rounded_fee`). Its breakdown lines add up to the amount
so an invoice can show the math.

Ranges (GRADUATED, VOLUME, GRADUATED_PERCENTAGE) -- decisions for docs/:

- Valid ranges: the first starts at 0; each next `fromValue` equals the previous `toValue`
  (that start is then exclusive) or `toValue + 1` (integer inclusive style: 0-10, 11-20);
  every `toValue` is at least its `fromValue` and above the previous `toValue`; only the
  last range is open, and it must be open; amounts are not negative, rates are 0..100.
- Range i covers the units in (previous toValue, toValue_i]; the first covers [0, toValue_0].
  Both styles therefore mean the same: 0-10, 11-20 and 0-10, 10-20 each put 10 units in the
  first range and 10 in the second. A fractional total in the integer gap (10.5 with
  0-10, 11-20) belongs to the next range: 10 units in the first, 0.5 in the second.
- GRADUATED: each range prices the units inside it; its flat amount is due once a unit is
  strictly above the previous range's end, and the first range's flat amount is due even at
  zero units. GRADUATED_PERCENTAGE prices the same way with a percent rate per range.
- VOLUME: the whole total is priced at the range it falls in, plus that range's flat
  amount. "Falls in" uses the same (previous toValue, toValue] rule, which for integer
  bounds is exactly the ceiling placement (100.5 falls in 101-200); zero falls in the
  first range, whose flat amount is then due.

Other models:

- STANDARD: units x amount. PACKAGE: ceil(max(units - freeUnits, 0) / packageSize) x amount.
- PERCENTAGE prices the period's events in time order. The free part lasts until either
  allowance (the first `freeUnitsPerEvents` events, the first `freeUnitsPerTotalAggregation`
  of amount) runs out, whichever ends first; an event straddling the free amount pays for
  its part above it and is a paid event. Each paid event costs rate% x its paid part +
  `fixedAmount`, raised to `perTransactionMinAmount` / lowered to `perTransactionMaxAmount`.
- Negative units (a SUM metric that went below zero) and negative event values are priced
  as zero: a charge never turns into a credit; credit notes do that.

Prorated charges (a recurring COUNT or SUM metric, `aggregation.DailyLevels`), as Lago bills them:

- STANDARD: the prorated units (unit-days ÷ days of the full period) x amount.
- GRADUATED: each range prices the unit-days that lie inside it, day by day, ÷ the days of the
  full period; its flat amount is due in full once the level reached the range on a billed day
  (the first range's, always). Flat amounts are the price of reaching a range, not of time: they
  are never prorated. Lago's "three ranges and one overflow case" (30 days; 0-5 at 10 + 100 flat,
  6-15 at 5 + 50 flat, 16+ at 2): 67 unit-days in the first range, 64 in the second, 60 in the
  third -> 67/30 x 10 + 64/30 x 5 + 60/30 x 2 + 150 = 187.00. Pricing the prorated total (6.57
  units) through the ranges instead would put every unit in the cheapest ranges and charge 207.83.
- VOLUME: the range is the one the period's units fall in (the level at the window's end, as
  without proration); the prorated units are priced at its per-unit amount, plus its flat amount.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, fields
from decimal import Decimal
from typing import Any, TypeVar

from domain import charge_models
from domain.aggregation import DailyLevels
from domain.charge_models import ChargeModel
from domain.errors import (
    InvalidFreeEvents,
    InvalidPackageSize,
    InvalidRanges,
    InvalidRate,
    MinAboveMax,
    MissingProperty,
    NegativeAmount,
    NegativeUnits,
    PropertyNotAllowed,
    RangesEmpty,
    RangesGapOrOverlap,
    RangesLastMustBeOpen,
    RangesMustStartAtZero,
    RangesOnlyLastOpen,
    RangeToNotAboveFrom,
)
from domain.money import parse_decimal, require_decimal, round_minor

ZERO = Decimal(0)
_ONE = Decimal(1)
_HUNDRED = Decimal(100)


def _coerce_decimals(instance: object, *names: str, optional: Sequence[str] = ()) -> None:
    """Turn int fields into Decimal and reject float (frozen dataclasses, so via setattr)."""
    for name in names:
        value = getattr(instance, name)
        if value is None and name in optional:
            continue
        object.__setattr__(instance, name, require_decimal(value, name))


# --- properties -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GraduatedRange:
    """A range of GRADUATED or VOLUME ranges (`to_value` None: open-ended)."""

    from_value: Decimal
    to_value: Decimal | None
    per_unit_amount: Decimal
    flat_amount: Decimal = ZERO

    def __post_init__(self) -> None:
        _coerce_decimals(self, "from_value", "to_value", "per_unit_amount", "flat_amount", optional=["to_value"])


@dataclass(frozen=True, slots=True)
class PercentageRange:
    """A range of GRADUATED_PERCENTAGE ranges; `rate` is a percent ("1.3" = 1.3%)."""

    from_value: Decimal
    to_value: Decimal | None
    rate: Decimal
    flat_amount: Decimal = ZERO

    def __post_init__(self) -> None:
        _coerce_decimals(self, "from_value", "to_value", "rate", "flat_amount", optional=["to_value"])


@dataclass(frozen=True, slots=True)
class StandardProperties:
    amount: Decimal

    def __post_init__(self) -> None:
        _coerce_decimals(self, "amount")


@dataclass(frozen=True, slots=True)
class GraduatedProperties:
    ranges: tuple[GraduatedRange, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "ranges", tuple(self.ranges))


@dataclass(frozen=True, slots=True)
class VolumeProperties:
    ranges: tuple[GraduatedRange, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "ranges", tuple(self.ranges))


@dataclass(frozen=True, slots=True)
class PackageProperties:
    amount: Decimal
    package_size: Decimal
    free_units: Decimal = ZERO

    def __post_init__(self) -> None:
        _coerce_decimals(self, "amount", "package_size", "free_units")


@dataclass(frozen=True, slots=True)
class PercentageProperties:
    rate: Decimal
    fixed_amount: Decimal = ZERO
    free_units_per_events: int | None = None
    free_units_per_total_aggregation: Decimal | None = None
    per_transaction_min_amount: Decimal | None = None
    per_transaction_max_amount: Decimal | None = None

    def __post_init__(self) -> None:
        optional = (
            "free_units_per_total_aggregation",
            "per_transaction_min_amount",
            "per_transaction_max_amount",
        )
        _coerce_decimals(self, "rate", "fixed_amount", *optional, optional=optional)
        events = self.free_units_per_events
        if events is not None and (not isinstance(events, int) or isinstance(events, bool)):
            raise TypeError("free_units_per_events must be an int")


@dataclass(frozen=True, slots=True)
class GraduatedPercentageProperties:
    ranges: tuple[PercentageRange, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "ranges", tuple(self.ranges))


ChargeProperties = (
    StandardProperties
    | GraduatedProperties
    | VolumeProperties
    | PackageProperties
    | PercentageProperties
    | GraduatedPercentageProperties
)

PROPERTIES_OF: dict[ChargeModel, type] = {
    ChargeModel.STANDARD: StandardProperties,
    ChargeModel.GRADUATED: GraduatedProperties,
    ChargeModel.VOLUME: VolumeProperties,
    ChargeModel.PACKAGE: PackageProperties,
    ChargeModel.PERCENTAGE: PercentageProperties,
    ChargeModel.GRADUATED_PERCENTAGE: GraduatedPercentageProperties,
}

RangeT = TypeVar("RangeT", GraduatedRange, PercentageRange)

# The property holding a range model's ranges (graduatedRanges, …), as domain/charge_models.py names it.
RANGES_FIELD: dict[ChargeModel, str] = {
    model: field.encode_name for model in ChargeModel if (field := charge_models.ranges_field(model)) is not None
}


# --- fees -----------------------------------------------------------------------------


class BreakdownKind(enum.StrEnum):
    UNITS = "UNITS"  # STANDARD: units x amount
    RANGE = "RANGE"  # one range of GRADUATED, VOLUME, GRADUATED_PERCENTAGE
    FREE_UNITS = "FREE_UNITS"  # PACKAGE free units, PERCENTAGE free part
    PACKAGES = "PACKAGES"  # PACKAGE: packages x amount
    PAID_EVENTS = "PAID_EVENTS"  # PERCENTAGE: rate x paid units + events x fixed amount
    MINIMUM_ADJUSTMENT = "MINIMUM_ADJUSTMENT"  # PERCENTAGE: raised to the per-event minimum
    MAXIMUM_ADJUSTMENT = "MAXIMUM_ADJUSTMENT"  # PERCENTAGE: lowered to the per-event maximum


@dataclass(frozen=True, slots=True)
class FeeBreakdownLine:
    """One step of a fee's math, e.g. "11-20: 10 units x 0.90 + 5.00 = 14.00"."""

    kind: BreakdownKind
    units: Decimal
    amount: Decimal
    from_value: Decimal | None = None
    to_value: Decimal | None = None
    per_unit_amount: Decimal | None = None  # per package for PACKAGES
    rate: Decimal | None = None  # percent
    flat_amount: Decimal = ZERO
    package_size: Decimal | None = None
    packages: Decimal | None = None
    events: int | None = None
    fixed_amount: Decimal | None = None  # per paid event


@dataclass(frozen=True, slots=True)
class ChargeFee:
    """A charge's fee for a period: units, unrounded amount, and how it was reached."""

    units: Decimal
    amount: Decimal
    breakdown: tuple[FeeBreakdownLine, ...]


def rounded_fee(fee: ChargeFee, currency: str) -> Decimal:
    """The fee as an invoice line shows it: rounded once to the currency's minor unit."""
    return round_minor(fee.amount, currency)


# --- validation -----------------------------------------------------------------------


def _not_negative(value: Decimal | None, field: tuple[str, ...], error: type = NegativeAmount):
    if value is not None and value < 0:
        raise error(f"{field[-1]} must not be negative", field=field)


def _valid_rate(rate: Decimal, field: tuple[str, ...]) -> None:
    if not ZERO <= rate <= _HUNDRED:
        raise InvalidRate("rate must be a percent between 0 and 100", field=field)


def validate_ranges(ranges: Sequence[GraduatedRange | PercentageRange], field: tuple[str, ...] = ()) -> None:
    """Check ranges against the rules; errors point at ``field + (index, "fromValue"|…)``."""
    if not ranges:
        raise RangesEmpty("at least one range is required", field=field)
    last = len(ranges) - 1
    previous_to = ZERO
    for index, item in enumerate(ranges):
        at = (*field, str(index))
        if index == 0:
            if item.from_value != 0:
                raise RangesMustStartAtZero("the first range must start at 0", field=(*at, "fromValue"))
        elif item.from_value not in (previous_to, previous_to + 1):
            raise RangesGapOrOverlap(
                f"fromValue must be {previous_to} or {previous_to + 1}, the previous range's toValue or the next unit",
                field=(*at, "fromValue"),
            )
        if item.to_value is None:
            if index != last:
                raise RangesOnlyLastOpen("only the last range may be open (toValue null)", field=(*at, "toValue"))
        elif index == last:
            raise RangesLastMustBeOpen("the last range must be open (toValue null)", field=(*at, "toValue"))
        elif item.to_value < item.from_value or item.to_value <= previous_to:
            raise RangeToNotAboveFrom(
                "toValue must be at least fromValue and above the previous toValue",
                field=(*at, "toValue"),
            )
        if isinstance(item, GraduatedRange):
            _not_negative(item.per_unit_amount, (*at, "perUnitAmount"))
        else:
            _valid_rate(item.rate, (*at, "rate"))
        _not_negative(item.flat_amount, (*at, "flatAmount"))
        if item.to_value is not None:
            previous_to = item.to_value


def validate_properties(model: ChargeModel, properties: ChargeProperties) -> None:
    """Check a charge's properties for its model; errors point at the camelCase property."""
    model = ChargeModel(model)
    expected = PROPERTIES_OF[model]
    if not isinstance(properties, expected):
        raise TypeError(f"{model} takes {expected.__name__}, not {type(properties).__name__}")
    if isinstance(properties, GraduatedProperties | VolumeProperties):
        ranges_field = RANGES_FIELD[model]
        validate_ranges(properties.ranges, (ranges_field,))
    elif isinstance(properties, GraduatedPercentageProperties):
        validate_ranges(properties.ranges, (RANGES_FIELD[model],))
    elif isinstance(properties, StandardProperties):
        _not_negative(properties.amount, ("amount",))
    elif isinstance(properties, PackageProperties):
        _not_negative(properties.amount, ("amount",))
        if properties.package_size <= 0:
            raise InvalidPackageSize("packageSize must be greater than 0", field=("packageSize",))
        _not_negative(properties.free_units, ("freeUnits",), NegativeUnits)
    elif isinstance(properties, PercentageProperties):
        _valid_rate(properties.rate, ("rate",))
        _not_negative(properties.fixed_amount, ("fixedAmount",))
        events = properties.free_units_per_events
        if events is not None and events < 0:
            raise InvalidFreeEvents("freeUnitsPerEvents must not be negative", field=("freeUnitsPerEvents",))
        _not_negative(
            properties.free_units_per_total_aggregation,
            ("freeUnitsPerTotalAggregation",),
            NegativeUnits,
        )
        minimum = properties.per_transaction_min_amount
        maximum = properties.per_transaction_max_amount
        _not_negative(minimum, ("perTransactionMinAmount",))
        _not_negative(maximum, ("perTransactionMaxAmount",))
        if minimum is not None and maximum is not None and minimum > maximum:
            raise MinAboveMax(
                "perTransactionMinAmount must not exceed perTransactionMaxAmount",
                field=("perTransactionMinAmount",),
            )


# --- reading properties from the API ------------------------------------------------

# What each model takes, and the camelCase name of every field: from domain/charge_models.py.
_PROPERTY_NAMES: dict[ChargeModel, frozenset[str]] = {
    model: frozenset(charge_models.wire_names(shape)) for model, shape in charge_models.SHAPES.items()
}
_WIRE_NAMES: dict[str, str] = {
    f.name: f.encode_name
    for shape in (charge_models.ChargeProperties, *charge_models.RANGE_SHAPES)
    for f in charge_models.fields(shape)
}


def _required(raw: Mapping[str, Any], name: str, at: tuple[str, ...]) -> Decimal:
    if raw.get(name) is None:
        raise MissingProperty(f"{name} is required", field=(*at, name))
    return parse_decimal(raw[name], field=(*at, name))


def _optional(raw: Mapping[str, Any], name: str, at: tuple[str, ...] = ()) -> Decimal | None:
    value = raw.get(name)
    return None if value is None else parse_decimal(value, field=(*at, name))


def _reject_unknown(raw: Mapping[str, Any], allowed: Iterable[str], at: tuple[str, ...]) -> None:
    allowed = set(allowed)
    for name, value in raw.items():
        if value is not None and name not in allowed:
            raise PropertyNotAllowed(f"{name} is not a property here", field=(*at, name))


def _parse_ranges(raw: Mapping[str, Any], model: ChargeModel) -> list[dict[str, Any]]:
    """The fields of each range (fromValue, toValue, perUnitAmount or rate, flatAmount) by snake_case name."""
    name = RANGES_FIELD[model]
    shape = charge_models.range_shape(model)
    items = raw.get(name)
    if items is None:
        raise MissingProperty(f"{name} is required", field=(name,))
    if isinstance(items, str | bytes) or not isinstance(items, Sequence):
        raise InvalidRanges(f"{name} must be a list of ranges", field=(name,))
    parsed = []
    for index, item in enumerate(items):
        at = (name, str(index))
        if not isinstance(item, Mapping):
            raise InvalidRanges("a range must be an object", field=at)
        _reject_unknown(item, charge_models.wire_names(shape), at)
        parsed.append(_read_fields(shape, item, at))
    return parsed


def _read_fields(shape: type[charge_models.Shape], raw: Mapping[str, Any], at: tuple[str, ...] = ()) -> dict[str, Any]:
    """The fields of a shape (without ranges) by their snake_case names: required ones must be there; an
    optional one left out or zero takes its default. Whole numbers (counts of events) are read first."""
    values: dict[str, Any] = {}
    ordered = sorted(charge_models.fields(shape), key=lambda f: not charge_models.is_whole_number(shape, f.name))
    for f in ordered:
        name = f.encode_name
        value: Any = _required(raw, name, at) if f.required else _optional(raw, name, at)
        if value is not None and charge_models.is_whole_number(shape, f.name):
            if value != value.to_integral_value():
                raise InvalidFreeEvents(f"{name} must be a whole number of events", field=(*at, name))
            value = int(value)
        if not f.required and f.default is not None and not value:
            value = f.default
        values[f.name] = value
    return values


_PARSED_LIMIT = 4096
_parsed: dict[tuple[ChargeModel, Any], ChargeProperties] = {}


def _frozen(value: Any) -> Any:
    """A hashable copy of JSON-like input that keeps every type and spelling apart ("5", 5, Decimal("5.0"))."""
    if isinstance(value, Mapping):
        return ("{}", tuple((key, _frozen(item)) for key, item in value.items()))
    if isinstance(value, list | tuple):
        return ("[]", tuple(_frozen(item) for item in value))
    return (type(value).__name__, repr(value))


def parse_properties(model: ChargeModel, raw: Mapping[str, Any]) -> ChargeProperties:
    """Build and validate a charge's properties from API input (camelCase, decimal strings).

    The same input always gives the same (immutable) properties, and billing reads a plan's charges again for
    every customer and billing date, so parsed properties are kept (a pure memo; refusals are never kept)."""
    model = ChargeModel(model)
    try:
        key = (model, _frozen(raw))
        found = _parsed.get(key)
    except TypeError:  # something unhashable inside: parse it every time
        return _parse_properties(model, raw)
    if found is None:
        found = _parse_properties(model, raw)
        if len(_parsed) >= _PARSED_LIMIT:
            _parsed.clear()
        _parsed[key] = found
    return found


def _parse_properties(model: ChargeModel, raw: Mapping[str, Any]) -> ChargeProperties:
    _reject_unknown(raw, _PROPERTY_NAMES[model], ())
    properties: ChargeProperties
    if model is ChargeModel.GRADUATED_PERCENTAGE:
        properties = GraduatedPercentageProperties(
            tuple(PercentageRange(**values) for values in _parse_ranges(raw, model))
        )
    elif model in RANGES_FIELD:
        ranges = tuple(GraduatedRange(**values) for values in _parse_ranges(raw, model))
        properties = GraduatedProperties(ranges) if model is ChargeModel.GRADUATED else VolumeProperties(ranges)
    else:
        properties = PROPERTIES_OF[model](**_read_fields(charge_models.SHAPES[model], raw))
    validate_properties(model, properties)
    return properties


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _range_as_json(item: GraduatedRange | PercentageRange) -> dict[str, str | None]:
    shape = charge_models.GraduatedRange if isinstance(item, GraduatedRange) else charge_models.PercentageRange
    return {f.encode_name: _text(getattr(item, f.name)) for f in charge_models.fields(shape)}


def properties_as_json(properties: ChargeProperties) -> dict[str, Any]:
    """Properties as JSON (camelCase, decimal strings), as `parse_properties` reads them."""
    if isinstance(properties, GraduatedProperties | VolumeProperties):
        model = ChargeModel.GRADUATED if isinstance(properties, GraduatedProperties) else ChargeModel.VOLUME
        return {RANGES_FIELD[model]: [_range_as_json(item) for item in properties.ranges]}
    if isinstance(properties, GraduatedPercentageProperties):
        return {RANGES_FIELD[ChargeModel.GRADUATED_PERCENTAGE]: [_range_as_json(item) for item in properties.ranges]}
    return {
        _WIRE_NAMES[item.name]: _text(value) if not isinstance(value, int) else value
        for item in fields(properties)
        if (value := getattr(properties, item.name)) is not None
    }


# --- charge models --------------------------------------------------------------------


def _priced_units(units: Decimal) -> Decimal:
    return units if units > 0 else ZERO


def _range_bounds(
    ranges: Sequence[GraduatedRange | PercentageRange],
) -> Iterator[tuple[int, Decimal, Decimal | None]]:
    """(index, lower, upper) per range: range i covers units in (lower, upper]."""
    lower = ZERO
    for index, item in enumerate(ranges):
        yield index, lower, item.to_value
        if item.to_value is not None:
            lower = item.to_value


def _units_in_ranges(units: Decimal, ranges: Sequence[RangeT], kind: type[RangeT]) -> Iterator[tuple[RangeT, Decimal]]:
    """Each reached range with the units inside it (the first range is always reached)."""
    for index, lower, upper in _range_bounds(ranges):
        item = ranges[index]
        if not isinstance(item, kind):
            raise TypeError(f"expected {kind.__name__}, not {type(item).__name__}")
        if index > 0 and units <= lower:
            return
        top = units if upper is None else min(units, upper)
        yield item, max(top - lower, ZERO)


def _fee(units: Decimal, lines: list[FeeBreakdownLine]) -> ChargeFee:
    return ChargeFee(units=units, amount=sum((line.amount for line in lines), ZERO), breakdown=tuple(lines))


def standard_amount(units: Decimal, properties: StandardProperties) -> ChargeFee:
    """STANDARD: units x amount."""
    units = require_decimal(units, "units")
    validate_properties(ChargeModel.STANDARD, properties)
    priced = _priced_units(units)
    line = FeeBreakdownLine(
        kind=BreakdownKind.UNITS,
        units=priced,
        per_unit_amount=properties.amount,
        amount=priced * properties.amount,
    )
    return _fee(units, [line])


def _range_line(item: GraduatedRange, inside: Decimal) -> FeeBreakdownLine:
    """A graduated range's line: the units inside it at its unit price, plus its flat amount."""
    return FeeBreakdownLine(
        kind=BreakdownKind.RANGE,
        units=inside,
        from_value=item.from_value,
        to_value=item.to_value,
        per_unit_amount=item.per_unit_amount,
        flat_amount=item.flat_amount,
        amount=inside * item.per_unit_amount + item.flat_amount,
    )


def graduated_amount(units: Decimal, ranges: Sequence[GraduatedRange]) -> ChargeFee:
    """GRADUATED: each range prices the units inside it, plus its flat amount once reached."""
    units = require_decimal(units, "units")
    validate_ranges(ranges, (RANGES_FIELD[ChargeModel.GRADUATED],))
    lines = [
        _range_line(item, inside)
        for item, inside in _units_in_ranges(_priced_units(units), ranges, GraduatedRange)
    ]
    return _fee(units, lines)


def graduated_percentage_amount(units: Decimal, ranges: Sequence[PercentageRange]) -> ChargeFee:
    """GRADUATED_PERCENTAGE: each range takes its rate of the units inside it, plus its flat."""
    units = require_decimal(units, "units")
    validate_ranges(ranges, (RANGES_FIELD[ChargeModel.GRADUATED_PERCENTAGE],))
    lines = [
        FeeBreakdownLine(
            kind=BreakdownKind.RANGE,
            units=inside,
            from_value=item.from_value,
            to_value=item.to_value,
            rate=item.rate,
            flat_amount=item.flat_amount,
            amount=inside * item.rate / _HUNDRED + item.flat_amount,
        )
        for item, inside in _units_in_ranges(_priced_units(units), ranges, PercentageRange)
    ]
    return _fee(units, lines)


def volume_range(units: Decimal, ranges: Sequence[GraduatedRange]) -> GraduatedRange:
    """The range a VOLUME total falls in (for integer bounds: placed by its ceiling)."""
    units = require_decimal(units, "units")
    priced = _priced_units(units)
    for index, _lower, upper in _range_bounds(ranges):
        if upper is None or priced <= upper:
            item = ranges[index]
            if not isinstance(item, GraduatedRange):
                raise TypeError(f"expected GraduatedRange, not {type(item).__name__}")
            return item
    raise RangesLastMustBeOpen("the last range must be open (toValue null)")


def volume_amount(units: Decimal, ranges: Sequence[GraduatedRange]) -> ChargeFee:
    """VOLUME: all units at the per-unit amount of the range the total falls in, plus its flat."""
    units = require_decimal(units, "units")
    validate_ranges(ranges, (RANGES_FIELD[ChargeModel.VOLUME],))
    priced = _priced_units(units)
    item = volume_range(priced, ranges)
    line = FeeBreakdownLine(
        kind=BreakdownKind.RANGE,
        units=priced,
        from_value=item.from_value,
        to_value=item.to_value,
        per_unit_amount=item.per_unit_amount,
        flat_amount=item.flat_amount,
        amount=priced * item.per_unit_amount + item.flat_amount,
    )
    return _fee(units, [line])


def package_amount(units: Decimal, properties: PackageProperties) -> ChargeFee:
    """PACKAGE: ceil(max(units - freeUnits, 0) / packageSize) x amount."""
    units = require_decimal(units, "units")
    validate_properties(ChargeModel.PACKAGE, properties)
    priced = _priced_units(units)
    free = min(priced, properties.free_units)
    paid = priced - free
    # divmod keeps the quotient exact where a division would round at 28 digits.
    whole, remainder = divmod(paid, properties.package_size)
    packages = whole + (_ONE if remainder else ZERO)
    lines = []
    if properties.free_units > 0:
        lines.append(
            FeeBreakdownLine(
                kind=BreakdownKind.FREE_UNITS,
                units=free,
                from_value=ZERO,
                to_value=properties.free_units,
                amount=ZERO,
            )
        )
    lines.append(
        FeeBreakdownLine(
            kind=BreakdownKind.PACKAGES,
            units=paid,
            from_value=properties.free_units,
            per_unit_amount=properties.amount,
            package_size=properties.package_size,
            packages=packages,
            amount=packages * properties.amount,
        )
    )
    return _fee(units, lines)


def percentage_amount(event_values: Iterable[Decimal], properties: PercentageProperties) -> ChargeFee:
    """PERCENTAGE over the period's event values in time order (see module docstring)."""
    validate_properties(ChargeModel.PERCENTAGE, properties)
    share = properties.rate / _HUNDRED
    fixed = properties.fixed_amount
    minimum = properties.per_transaction_min_amount
    maximum = properties.per_transaction_max_amount
    free_events_allowed = properties.free_units_per_events
    free_amount_allowed = properties.free_units_per_total_aggregation
    # An allowance of 0 (or none at all) means there is no free part.
    in_free_part = (free_events_allowed is not None or free_amount_allowed is not None) and (
        free_events_allowed != 0 and free_amount_allowed != 0
    )

    total = ZERO
    free_units, free_events = ZERO, 0
    paid_units, paid_events = ZERO, 0
    raised, raised_events, lowered, lowered_events = ZERO, 0, ZERO, 0
    for raw_value in event_values:
        value = require_decimal(raw_value, "event value")
        total += value
        paid_part = value if value > 0 else ZERO
        if in_free_part:
            if free_amount_allowed is None:
                free_units += paid_part
                free_events += 1
                in_free_part = free_events != free_events_allowed
                continue
            remaining = free_amount_allowed - free_units
            if paid_part <= remaining:
                free_units += paid_part
                free_events += 1
                in_free_part = paid_part != remaining and free_events != free_events_allowed
                continue
            # The event straddles the end of the free amount: only its part above is paid.
            free_units += remaining
            paid_part -= remaining
            in_free_part = False
        paid_units += paid_part
        paid_events += 1
        if minimum is None and maximum is None:
            continue
        fee = paid_part * share + fixed
        if minimum is not None and fee < minimum:
            raised += minimum - fee
            raised_events += 1
        elif maximum is not None and fee > maximum:
            lowered += maximum - fee
            lowered_events += 1

    lines = []
    if free_units or free_events:
        lines.append(FeeBreakdownLine(kind=BreakdownKind.FREE_UNITS, units=free_units, events=free_events, amount=ZERO))
    lines.append(
        FeeBreakdownLine(
            kind=BreakdownKind.PAID_EVENTS,
            units=paid_units,
            events=paid_events,
            rate=properties.rate,
            fixed_amount=fixed,
            amount=paid_units * share + paid_events * fixed,
        )
    )
    if raised_events:
        lines.append(
            FeeBreakdownLine(
                kind=BreakdownKind.MINIMUM_ADJUSTMENT,
                units=ZERO,
                events=raised_events,
                amount=raised,
            )
        )
    if lowered_events:
        lines.append(
            FeeBreakdownLine(
                kind=BreakdownKind.MAXIMUM_ADJUSTMENT,
                units=ZERO,
                events=lowered_events,
                amount=lowered,
            )
        )
    return _fee(total, lines)


def prorated_graduated_amount(levels: DailyLevels, ranges: Sequence[GraduatedRange]) -> ChargeFee:
    """Prorated GRADUATED: each range prices its unit-days ÷ the full period's days, plus its flat once reached."""
    if not isinstance(levels, DailyLevels):
        raise TypeError(f"levels must be DailyLevels, not {type(levels).__name__}")
    validate_ranges(ranges, (RANGES_FIELD[ChargeModel.GRADUATED],))
    peak = levels.peak
    lines = []
    for index, lower, upper in _range_bounds(ranges):
        item = ranges[index]
        if not isinstance(item, GraduatedRange):
            raise TypeError(f"expected GraduatedRange, not {type(item).__name__}")
        if index > 0 and peak <= lower:
            break
        inside = levels.unit_days_between(lower, upper) / levels.full_period_days
        lines.append(_range_line(item, inside))
    return _fee(levels.units, lines)


def prorated_volume_amount(levels: DailyLevels, ranges: Sequence[GraduatedRange]) -> ChargeFee:
    """Prorated VOLUME: the prorated units at the range the period's units fall in, plus its flat amount."""
    if not isinstance(levels, DailyLevels):
        raise TypeError(f"levels must be DailyLevels, not {type(levels).__name__}")
    validate_ranges(ranges, (RANGES_FIELD[ChargeModel.VOLUME],))
    item = volume_range(levels.closing, ranges)
    priced = _priced_units(levels.units)
    line = FeeBreakdownLine(
        kind=BreakdownKind.RANGE,
        units=priced,
        from_value=item.from_value,
        to_value=item.to_value,
        per_unit_amount=item.per_unit_amount,
        flat_amount=item.flat_amount,
        amount=priced * item.per_unit_amount + item.flat_amount,
    )
    return _fee(levels.units, [line])


def prorated_charge_fee(model: ChargeModel, properties: ChargeProperties, levels: DailyLevels) -> ChargeFee:
    """The fee of a prorated charge (STANDARD, GRADUATED or VOLUME) from its metric's daily levels."""
    model = ChargeModel(model)
    validate_properties(model, properties)
    if isinstance(properties, StandardProperties):
        return standard_amount(levels.units, properties)
    if isinstance(properties, GraduatedProperties):
        return prorated_graduated_amount(levels, properties.ranges)
    if isinstance(properties, VolumeProperties):
        return prorated_volume_amount(levels, properties.ranges)
    raise ValueError(f"a {model} charge cannot be prorated")


def charge_fee(
    model: ChargeModel,
    properties: ChargeProperties,
    units: Decimal,
    event_values: Iterable[Decimal] | None = None,
) -> ChargeFee:
    """The fee of any charge model; PERCENTAGE needs `event_values` and ignores `units`."""
    model = ChargeModel(model)
    validate_properties(model, properties)
    if isinstance(properties, StandardProperties):
        return standard_amount(units, properties)
    if isinstance(properties, GraduatedProperties):
        return graduated_amount(units, properties.ranges)
    if isinstance(properties, VolumeProperties):
        return volume_amount(units, properties.ranges)
    if isinstance(properties, PackageProperties):
        return package_amount(units, properties)
    if isinstance(properties, GraduatedPercentageProperties):
        return graduated_percentage_amount(units, properties.ranges)
    if event_values is None:
        raise ValueError("PERCENTAGE prices each event: pass event_values")
    return percentage_amount(event_values, properties)


def quantity_fee(model: ChargeModel, properties: ChargeProperties, quantity: Decimal) -> ChargeFee:
    """What a charge costs for `quantity` units in a period, exactly as billing prices them (`charge_fee`).

    A price preview has a total, not a period's events: PERCENTAGE takes it as one event of that amount."""
    quantity = require_decimal(quantity, "quantity")
    model = ChargeModel(model)
    events = (quantity,) if model is ChargeModel.PERCENTAGE else None
    return charge_fee(model, properties, quantity, events)
