"""Contracts of the whole domain package: error codes, no float, no I/O."""

import ast
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain import aggregation, money, pricing, proration
from domain.errors import DomainError, RangesEmpty, error_codes
from domain.periods import Interval, Period
from domain.pricing import (
    ChargeModel,
    GraduatedRange,
    PackageProperties,
    PercentageProperties,
    PercentageRange,
    StandardProperties,
)

DOMAIN = Path(__file__).resolve().parents[2] / "domain"
JANUARY = Period(datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 2, 1, tzinfo=UTC))


def test_error_codes_are_stable_unique_upper_snake_strings():
    codes = error_codes()
    assert len(codes) >= 25
    for code, cls in codes.items():
        assert re.fullmatch(r"[A-Z]+(_[A-Z0-9]+)*", code), code
        assert cls.code == code
    assert {
        "RANGES_EMPTY",
        "RANGES_MUST_START_AT_ZERO",
        "RANGES_GAP_OR_OVERLAP",
        "RANGES_ONLY_LAST_OPEN",
        "NEGATIVE_AMOUNT",
        "INVALID_PACKAGE_SIZE",
        "UNKNOWN_CURRENCY",
        "INVALID_RATE",
        "INVALID_DECIMAL",
        "MIN_ABOVE_MAX",
    } <= set(codes)


def test_domain_error_carries_code_field_and_message():
    error = RangesEmpty("at least one range is required", field=("volumeRanges",))
    assert (error.code, error.field, error.message) == (
        "RANGES_EMPTY",
        ("volumeRanges",),
        "at least one range is required",
    )
    moved = error.at("input", "charges", "2", "properties")
    assert moved.field == ("input", "charges", "2", "properties", "volumeRanges")
    assert isinstance(moved, RangesEmpty) and error.field == ("volumeRanges",)
    assert isinstance(error, DomainError)


@pytest.mark.parametrize(
    "call",
    [
        lambda: money.parse_decimal(1.5),
        lambda: money.round_minor(1.005, "USD"),
        lambda: money.to_minor_units(1.5, "USD"),
        lambda: money.from_minor_units(1.0, "USD"),
        lambda: GraduatedRange(0, None, 0.1),
        lambda: PercentageRange(0, None, 1.5),
        lambda: StandardProperties(0.5),
        lambda: PackageProperties(1, 10.0),
        lambda: PercentageProperties(1.3),
        lambda: pricing.standard_amount(1.5, StandardProperties(D(1))),
        lambda: pricing.graduated_amount(1.5, [GraduatedRange(0, None, D(1))]),
        lambda: pricing.volume_amount(1.5, [GraduatedRange(0, None, D(1))]),
        lambda: pricing.percentage_amount([1.5], PercentageProperties(D(1))),
        lambda: proration.prorated_amount(10.0, 1, 2),
        lambda: proration.prorated_amount(D(10), 1.0, 2),
        lambda: proration.true_up(100.0, D(1)),
        lambda: proration.annualized_price(9.99, Interval.MONTHLY),
        lambda: aggregation.aggregate(
            aggregation.Aggregation.SUM,
            [aggregation.UsageEvent(JANUARY.start, {"v": 0.1}, "t")],
            "v",
            JANUARY,
        ),
        lambda: aggregation.combine(aggregation.Aggregation.SUM, 1.0, D(1)),
    ],
)
def test_float_input_raises_type_error(call):
    with pytest.raises(TypeError):
        call()


@settings(max_examples=60, deadline=None, database=None)
@given(
    units=st.integers(0, 10_000) | st.decimals(min_value=0, max_value=10_000, places=4),
    model=st.sampled_from(list(ChargeModel)),
)
def test_every_output_is_decimal(units, model):
    properties = {
        ChargeModel.STANDARD: StandardProperties(D("0.01")),
        ChargeModel.GRADUATED: pricing.GraduatedProperties(
            [GraduatedRange(0, 100, D(1), D(2)), GraduatedRange(101, None, D("0.5"))]
        ),
        ChargeModel.VOLUME: pricing.VolumeProperties(
            [GraduatedRange(0, 100, D(1)), GraduatedRange(100, None, D("0.5"), D(3))]
        ),
        ChargeModel.PACKAGE: PackageProperties(D(5), D(100), D(10)),
        ChargeModel.PERCENTAGE: PercentageProperties(D("1.3"), D("0.1")),
        ChargeModel.GRADUATED_PERCENTAGE: pricing.GraduatedPercentageProperties([PercentageRange(0, None, D("2.5"))]),
    }[model]
    fee = pricing.charge_fee(model, properties, units, [D(units)])
    numbers = [fee.units, fee.amount, pricing.rounded_fee(fee, "USD")]
    for line in fee.breakdown:
        numbers += [line.units, line.amount, line.flat_amount]
    assert all(isinstance(number, D) for number in numbers)
    assert isinstance(proration.prorated_amount(fee.amount, 3, 7), D)
    events = [aggregation.UsageEvent(JANUARY.start + timedelta(hours=i), {"v": units}, str(i)) for i in range(3)]
    for kind in aggregation.Aggregation:
        assert isinstance(aggregation.aggregate(kind, events, "v", JANUARY), D)


FORBIDDEN_IMPORTS = {
    "sqlalchemy",
    "strawberry",
    "time",
    "os",
    "io",
    "socket",
    "random",
    "requests",
    "httpx",
    "aiohttp",
    "db",
    "graph",
    "services",
    "valueverse",
}


@pytest.mark.parametrize("path", sorted(DOMAIN.glob("*.py")), ids=lambda p: p.name)
def test_domain_modules_import_no_io_clock_or_framework(path):
    tree = ast.parse(path.read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert not imported & FORBIDDEN_IMPORTS
    source = path.read_text()
    assert "float(" not in source
    assert ".now(" not in source and ".today(" not in source and "utcnow" not in source
