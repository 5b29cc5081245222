from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain import pricing
from domain.errors import DomainError
from domain.pricing import (
    BreakdownKind,
    ChargeModel,
    GraduatedRange,
    PackageProperties,
    PercentageProperties,
    PercentageRange,
    StandardProperties,
)

quick = settings(max_examples=80, deadline=None, database=None)


def graduated(*rows):
    """Ranges from (from, to, per unit, flat) rows."""
    return [GraduatedRange(D(a), None if b is None else D(b), D(c), D(d)) for a, b, c, d in rows]


def lines(fee):
    return [(line.units, line.amount) for line in fee.breakdown]


# --- STANDARD -------------------------------------------------------------------------


def test_standard_is_units_times_amount():
    fee = pricing.standard_amount(D("1234.5"), StandardProperties(D("0.002")))
    assert fee.amount == D("2.469")
    assert fee.breakdown[0].kind is BreakdownKind.UNITS


def test_negative_units_are_priced_as_zero():
    assert pricing.standard_amount(D(-5), StandardProperties(D(2))).amount == 0
    fee = pricing.graduated_amount(D(-5), graduated(("0", None, "1", "3")))
    assert fee.amount == 3 and fee.units == -5


# --- GRADUATED ------------------------------------------------------------------------

TIERS = graduated(
    ("0", "100", "1.00", "10"),
    ("101", "1000", "0.80", "5"),
    ("1001", None, "0.50", "0"),
)


def test_graduated_worked_example_across_three_tiers():
    # 100 x 1.00 + 10, then 900 x 0.80 + 5, then 500 x 0.50.
    fee = pricing.graduated_amount(D(1500), TIERS)
    assert lines(fee) == [(100, D("110.00")), (900, D("725.00")), (500, D("250.00"))]
    assert fee.amount == D("1085.00")
    assert [line.from_value for line in fee.breakdown] == [0, 101, 1001]


def test_graduated_first_flat_fee_due_at_zero_units():
    fee = pricing.graduated_amount(D(0), TIERS)
    assert fee.amount == 10
    assert lines(fee) == [(0, 10)]


def test_graduated_flat_fee_due_once_a_unit_reaches_the_range():
    assert pricing.graduated_amount(D(100), TIERS).amount == D("110.00")
    assert pricing.graduated_amount(D("100.01"), TIERS).amount == D("115.008")
    assert pricing.graduated_amount(D(101), TIERS).amount == D("115.80")


def test_graduated_range_starting_at_previous_end_excludes_that_start():
    shared = graduated(("0", "10", "1", "0"), ("10", "20", "2", "0"), ("20", None, "3", "0"))
    assert lines(pricing.graduated_amount(D(10), shared)) == [(10, 10)]
    assert lines(pricing.graduated_amount(D("10.5"), shared)) == [(10, 10), (D("0.5"), 1)]


def test_graduated_integer_gap_belongs_to_the_next_range():
    inclusive = graduated(("0", "10", "1", "0"), ("11", "20", "2", "0"), ("21", None, "3", "0"))
    assert lines(pricing.graduated_amount(D("10.5"), inclusive)) == [(10, 10), (D("0.5"), 1)]
    assert lines(pricing.graduated_amount(D(20), inclusive)) == [(10, 10), (10, 20)]
    assert lines(pricing.graduated_amount(D(21), inclusive))[-1] == (1, 3)


def test_both_range_styles_price_the_same():
    shared = graduated(("0", "10", "1", "1"), ("10", "20", "2", "2"), ("20", None, "3", "3"))
    inclusive = graduated(("0", "10", "1", "1"), ("11", "20", "2", "2"), ("21", None, "3", "3"))
    for units in ["0", "5", "10", "10.5", "11", "19.99", "20", "20.01", "35"]:
        assert pricing.graduated_amount(D(units), shared).amount == pricing.graduated_amount(D(units), inclusive).amount


# --- VOLUME ---------------------------------------------------------------------------

VOLUME = graduated(
    ("0", "100", "1.00", "0"),
    ("101", "200", "0.90", "20"),
    ("201", None, "0.75", "50"),
)


def test_volume_prices_every_unit_at_the_range_the_total_falls_in():
    assert pricing.volume_amount(D(150), VOLUME).amount == D("155.00")  # 150 x 0.90 + 20
    assert pricing.volume_amount(D(100), VOLUME).amount == D("100.00")
    assert pricing.volume_amount(D(250), VOLUME).amount == D("237.50")  # 250 x 0.75 + 50


def test_volume_places_fractional_total_by_ceiling():
    fee = pricing.volume_amount(D("100.5"), VOLUME)
    assert fee.breakdown[0].from_value == 101
    assert fee.amount == D("100.5") * D("0.90") + 20
    shared = graduated(("0", "100", "1", "0"), ("100", None, "2", "0"))
    assert pricing.volume_range(D("100.5"), shared).from_value == 100
    assert pricing.volume_range(D(100), shared).from_value == 0


def test_volume_zero_units_fall_in_the_first_range_with_its_flat_fee():
    with_flat = graduated(("0", "10", "1", "5"), ("11", None, "0.5", "0"))
    fee = pricing.volume_amount(D(0), with_flat)
    assert fee.amount == 5
    assert fee.breakdown[0].to_value == 10


# --- PACKAGE --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("units", "expected"),
    [("0", "0"), ("100", "0"), ("101", "5"), ("200", "5"), ("200.5", "10"), ("350", "15")],
)
def test_package_with_free_units(units, expected):
    # $5 per 100 units, first 100 units free.
    props = PackageProperties(amount=D(5), package_size=D(100), free_units=D(100))
    assert pricing.package_amount(D(units), props).amount == D(expected)


def test_package_breakdown_shows_free_units_and_packages():
    props = PackageProperties(amount=D(5), package_size=D(100), free_units=D(100))
    free, packages = pricing.package_amount(D(350), props).breakdown
    assert (free.kind, free.units, free.amount) == (BreakdownKind.FREE_UNITS, 100, 0)
    assert (packages.units, packages.packages, packages.package_size) == (250, 3, 100)
    assert packages.amount == 15


def test_package_size_may_be_fractional_and_stays_exact():
    props = PackageProperties(amount=D("0.10"), package_size=D("0.1"))
    assert pricing.package_amount(D("0.3"), props).amount == D("0.30")


# --- PERCENTAGE -----------------------------------------------------------------------


def test_percentage_is_rate_of_amount_plus_fixed_fee_per_event():
    props = PercentageProperties(rate=D("1.3"), fixed_amount=D("0.10"))
    fee = pricing.percentage_amount([D(100), D(50)], props)
    assert fee.amount == D("1.3") + D("0.65") + D("0.20")
    assert fee.units == 150
    (paid,) = fee.breakdown
    assert (paid.kind, paid.events, paid.units) == (BreakdownKind.PAID_EVENTS, 2, 150)


def test_percentage_free_events_then_free_amount_whichever_ends_first():
    both = dict(rate=D(10), free_units_per_events=2, free_units_per_total_aggregation=D(100))
    # The event allowance ends first: two events (60) are free, the third pays in full.
    fee = pricing.percentage_amount([D(30), D(30), D(30)], PercentageProperties(**both))
    assert fee.amount == D(3)
    # The amount allowance ends first: 80 free, then 20 of the next 50 free.
    fee = pricing.percentage_amount([D(80), D(50), D(10)], PercentageProperties(**both))
    free, paid = fee.breakdown
    assert (free.units, free.events) == (100, 1)
    assert (paid.units, paid.events) == (40, 2)
    assert fee.amount == D(4)


def test_percentage_straddling_event_pays_only_above_the_free_amount():
    props = PercentageProperties(rate=D(2), fixed_amount=D("0.30"), free_units_per_total_aggregation=D(100))
    fee = pricing.percentage_amount([D(60), D(60), D(60)], props)
    # 20 of the second event and all of the third are paid; both paid events owe the fixed fee.
    assert fee.amount == D("0.40") + D("1.20") + 2 * D("0.30")


def test_percentage_free_amount_exactly_used_ends_the_free_part():
    props = PercentageProperties(rate=D(10), fixed_amount=D(1), free_units_per_total_aggregation=D(50))
    fee = pricing.percentage_amount([D(50), D(0), D(10)], props)
    assert fee.amount == D(1) + D(1) + D(1)  # the 0 event pays its fixed fee


def test_percentage_free_events_only():
    props = PercentageProperties(rate=D(10), free_units_per_events=1)
    assert pricing.percentage_amount([D(1000), D(10)], props).amount == 1


def test_percentage_with_per_transaction_min_and_max():
    props = PercentageProperties(rate=D(2), per_transaction_min_amount=D("0.50"), per_transaction_max_amount=D(3))
    fee = pricing.percentage_amount([D(10), D(100), D(1000)], props)
    # Fees 0.20 -> 0.50, 2.00 stays, 20.00 -> 3.00.
    assert fee.amount == D("5.50")
    kinds = {line.kind: line for line in fee.breakdown}
    assert kinds[BreakdownKind.PAID_EVENTS].amount == D("22.20")
    assert kinds[BreakdownKind.MINIMUM_ADJUSTMENT].amount == D("0.30")
    assert kinds[BreakdownKind.MAXIMUM_ADJUSTMENT].amount == D("-17.00")


def test_percentage_min_and_max_apply_to_the_fee_including_the_fixed_amount():
    props = PercentageProperties(rate=D(1), fixed_amount=D("0.25"), per_transaction_min_amount=D("0.30"))
    assert pricing.percentage_amount([D(10)], props).amount == D("0.35")  # 0.10 + 0.25
    assert pricing.percentage_amount([D(1)], props).amount == D("0.30")


def test_percentage_free_events_are_not_subject_to_the_minimum():
    props = PercentageProperties(rate=D(1), free_units_per_events=1, per_transaction_min_amount=D(1))
    assert pricing.percentage_amount([D(5), D(5)], props).amount == 1


# --- GRADUATED_PERCENTAGE -------------------------------------------------------------


def test_graduated_percentage_takes_each_ranges_rate_of_the_units_inside_it():
    ranges = [
        PercentageRange(D(0), D(1000), D(1), D("0.50")),
        PercentageRange(D(1000), None, D("0.5"), D(2)),
    ]
    fee = pricing.graduated_percentage_amount(D(1500), ranges)
    assert lines(fee) == [(1000, D("10.50")), (500, D("4.5"))]
    assert pricing.graduated_percentage_amount(D(0), ranges).amount == D("0.50")


# --- range validation -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("rows", "code", "field"),
    [
        ([], "RANGES_EMPTY", ("graduatedRanges",)),
        ([("1", None, "1", "0")], "RANGES_MUST_START_AT_ZERO", ("graduatedRanges", "0", "fromValue")),
        (
            [("0", "10", "1", "0"), ("12", None, "1", "0")],
            "RANGES_GAP_OR_OVERLAP",
            ("graduatedRanges", "1", "fromValue"),
        ),
        (
            [("0", "10", "1", "0"), ("9", None, "1", "0")],
            "RANGES_GAP_OR_OVERLAP",
            ("graduatedRanges", "1", "fromValue"),
        ),
        (
            [("0", None, "1", "0"), ("10", None, "1", "0")],
            "RANGES_ONLY_LAST_OPEN",
            ("graduatedRanges", "0", "toValue"),
        ),
        (
            [("0", "10", "1", "0"), ("11", "20", "1", "0")],
            "RANGES_LAST_MUST_BE_OPEN",
            ("graduatedRanges", "1", "toValue"),
        ),
        (
            [("0", "10", "1", "0"), ("10", "10", "1", "0"), ("10", None, "1", "0")],
            "RANGES_TO_NOT_ABOVE_FROM",
            ("graduatedRanges", "1", "toValue"),
        ),
        (
            [("0", "0", "1", "0"), ("1", None, "1", "0")],
            "RANGES_TO_NOT_ABOVE_FROM",
            ("graduatedRanges", "0", "toValue"),
        ),
        (
            [("0", "10", "1", "0"), ("11", None, "-1", "0")],
            "NEGATIVE_AMOUNT",
            ("graduatedRanges", "1", "perUnitAmount"),
        ),
        ([("0", None, "1", "-0.01")], "NEGATIVE_AMOUNT", ("graduatedRanges", "0", "flatAmount")),
    ],
)
def test_invalid_ranges_are_reported_with_code_and_field(rows, code, field):
    with pytest.raises(DomainError) as caught:
        pricing.validate_ranges(graduated(*rows), ("graduatedRanges",))
    assert (caught.value.code, caught.value.field) == (code, field)


def test_single_unit_range_in_inclusive_style_is_valid():
    pricing.validate_ranges(graduated(("0", "10", "1", "0"), ("11", "11", "1", "0"), ("12", None, "1", "0")))


def test_graduated_percentage_rate_must_be_a_percent():
    ranges = [PercentageRange(D(0), None, D("100.01"), D(0))]
    with pytest.raises(DomainError) as caught:
        pricing.graduated_percentage_amount(D(1), ranges)
    assert caught.value.code == "INVALID_RATE"
    assert caught.value.field == ("graduatedPercentageRanges", "0", "rate")


# --- properties from the API ----------------------------------------------------------


def test_properties_are_read_from_api_input_exactly():
    props = pricing.parse_properties(
        ChargeModel.GRADUATED,
        {
            "graduatedRanges": [
                {"fromValue": "0", "toValue": "10", "perUnitAmount": "0.1", "flatAmount": "0"},
                {"fromValue": 11, "toValue": None, "perUnitAmount": "0.05"},
            ],
            "amount": None,  # GraphQL leaves unused fields null
        },
    )
    assert props.ranges[1] == GraduatedRange(D(11), None, D("0.05"), D(0))
    assert pricing.charge_fee(ChargeModel.GRADUATED, props, D(20)).amount == D("1.50")


@pytest.mark.parametrize(
    ("model", "raw", "code", "field"),
    [
        (ChargeModel.STANDARD, {}, "MISSING_PROPERTY", ("amount",)),
        (ChargeModel.STANDARD, {"amount": "-1"}, "NEGATIVE_AMOUNT", ("amount",)),
        (ChargeModel.STANDARD, {"amount": "1.0000000000001"}, "INVALID_DECIMAL", ("amount",)),
        (ChargeModel.STANDARD, {"amount": "1", "packageSize": "2"}, "PROPERTY_NOT_ALLOWED", ("packageSize",)),
        (ChargeModel.PACKAGE, {"amount": "1", "packageSize": "0"}, "INVALID_PACKAGE_SIZE", ("packageSize",)),
        (ChargeModel.PACKAGE, {"amount": "1", "packageSize": "1", "freeUnits": "-1"}, "NEGATIVE_UNITS", ("freeUnits",)),
        (ChargeModel.PERCENTAGE, {"rate": "100.5"}, "INVALID_RATE", ("rate",)),
        (ChargeModel.PERCENTAGE, {"rate": "-1"}, "INVALID_RATE", ("rate",)),
        (
            ChargeModel.PERCENTAGE,
            {"rate": "1", "freeUnitsPerEvents": "1.5"},
            "INVALID_FREE_EVENTS",
            ("freeUnitsPerEvents",),
        ),
        (
            ChargeModel.PERCENTAGE,
            {"rate": "1", "perTransactionMinAmount": "5", "perTransactionMaxAmount": "1"},
            "MIN_ABOVE_MAX",
            ("perTransactionMinAmount",),
        ),
        (ChargeModel.VOLUME, {}, "MISSING_PROPERTY", ("volumeRanges",)),
        (ChargeModel.VOLUME, {"volumeRanges": "0-10"}, "INVALID_RANGES", ("volumeRanges",)),
        (
            ChargeModel.GRADUATED,
            {
                "graduatedRanges": [
                    {"fromValue": "0", "toValue": "10", "perUnitAmount": "1"},
                    {"fromValue": "11", "toValue": None, "perUnitAmount": "abc"},
                ]
            },
            "INVALID_DECIMAL",
            ("graduatedRanges", "1", "perUnitAmount"),
        ),
        (
            ChargeModel.GRADUATED,
            {
                "graduatedRanges": [
                    {"fromValue": "0", "toValue": "10", "perUnitAmount": "1"},
                    {"fromValue": "10.5", "toValue": None, "perUnitAmount": "1"},
                ]
            },
            "RANGES_GAP_OR_OVERLAP",
            ("graduatedRanges", "1", "fromValue"),
        ),
        (
            ChargeModel.GRADUATED_PERCENTAGE,
            {"graduatedPercentageRanges": [{"fromValue": "0", "toValue": None}]},
            "MISSING_PROPERTY",
            ("graduatedPercentageRanges", "0", "rate"),
        ),
    ],
)
def test_invalid_properties_are_user_errors_with_code_and_field(model, raw, code, field):
    with pytest.raises(DomainError) as caught:
        pricing.parse_properties(model, raw)
    assert (caught.value.code, caught.value.field) == (code, field)
    prefixed = caught.value.at("input", "charges", "0", "properties")
    assert prefixed.field == ("input", "charges", "0", "properties", *field)


@pytest.mark.parametrize(
    ("model", "raw"),
    [
        (ChargeModel.STANDARD, {"amount": "0.000000000001"}),
        (ChargeModel.PACKAGE, {"amount": "5", "packageSize": "100", "freeUnits": "10"}),
        (
            ChargeModel.PERCENTAGE,
            {
                "rate": "1.3",
                "fixedAmount": "0.1",
                "freeUnitsPerEvents": 3,
                "freeUnitsPerTotalAggregation": "100",
                "perTransactionMinAmount": "0.2",
                "perTransactionMaxAmount": "9",
            },
        ),
        (
            ChargeModel.VOLUME,
            {
                "volumeRanges": [
                    {"fromValue": "0", "toValue": "5", "perUnitAmount": "2", "flatAmount": "1"},
                    {"fromValue": "5", "toValue": None, "perUnitAmount": "1", "flatAmount": "0"},
                ]
            },
        ),
        (
            ChargeModel.GRADUATED_PERCENTAGE,
            {"graduatedPercentageRanges": [{"fromValue": "0", "toValue": None, "rate": "2.5", "flatAmount": "0.3"}]},
        ),
    ],
)
def test_properties_round_trip_through_json(model, raw):
    props = pricing.parse_properties(model, raw)
    assert pricing.parse_properties(model, pricing.properties_as_json(props)) == props


def test_charge_fee_dispatches_and_percentage_needs_event_values():
    props = PercentageProperties(rate=D(1))
    assert pricing.charge_fee(ChargeModel.PERCENTAGE, props, D(0), [D(100)]).amount == 1
    with pytest.raises(ValueError):
        pricing.charge_fee(ChargeModel.PERCENTAGE, props, D(100))
    with pytest.raises(TypeError):
        pricing.charge_fee(ChargeModel.STANDARD, props, D(1))


def test_fees_stay_unrounded_until_the_invoice_line_rounds_them():
    fee = pricing.standard_amount(D(3), StandardProperties(D("0.0035")))
    assert fee.amount == D("0.0105")
    assert pricing.rounded_fee(fee, "USD") == D("0.01")
    assert pricing.rounded_fee(fee, "KWD") == D("0.011")


# --- properties -----------------------------------------------------------------------

amounts = st.decimals(min_value=0, max_value=100, places=4)
units_st = st.decimals(min_value=0, max_value=10_000, places=3)


@st.composite
def valid_ranges(draw):
    bounds = sorted(set(draw(st.lists(st.integers(1, 5000), max_size=5))))
    rows, previous = [], None
    for bound in bounds:
        start = D(0) if previous is None else previous + draw(st.sampled_from([0, 1]))
        if bound < start:
            continue
        rows.append(GraduatedRange(start, D(bound), draw(amounts), draw(amounts)))
        previous = D(bound)
    start = D(0) if previous is None else previous + draw(st.sampled_from([0, 1]))
    rows.append(GraduatedRange(start, None, draw(amounts), draw(amounts)))
    return rows


@quick
@given(ranges=valid_ranges(), low=units_st, high=units_st)
def test_graduated_amount_is_monotone_in_units(ranges, low, high):
    low, high = sorted((low, high))
    assert pricing.graduated_amount(low, ranges).amount <= pricing.graduated_amount(high, ranges).amount


@quick
@given(ranges=valid_ranges(), units=units_st)
def test_breakdown_lines_add_up_and_hold_every_unit(ranges, units):
    for fee in (pricing.graduated_amount(units, ranges), pricing.volume_amount(units, ranges)):
        assert sum(line.amount for line in fee.breakdown) == fee.amount
        assert sum(line.units for line in fee.breakdown) == units
        assert isinstance(fee.amount, D)


@quick
@given(per_unit=amounts, flat=amounts, units=units_st)
def test_volume_and_graduated_agree_for_a_single_open_range(per_unit, flat, units):
    single = [GraduatedRange(D(0), None, per_unit, flat)]
    assert pricing.volume_amount(units, single) == pricing.graduated_amount(units, single)
    assert pricing.graduated_amount(units, single).amount == units * per_unit + flat


@quick
@given(
    values=st.lists(st.decimals(min_value=0, max_value=1000, places=2), max_size=20),
    rate=st.decimals(min_value=0, max_value=100, places=2),
    fixed=st.decimals(min_value=0, max_value=1, places=2),
    free_events=st.none() | st.integers(0, 5),
    free_amount=st.none() | st.decimals(min_value=0, max_value=500, places=2),
    minimum=st.none() | st.decimals(min_value=0, max_value=2, places=2),
    spread=st.none() | st.decimals(min_value=0, max_value=20, places=2),
)
def test_percentage_fee_stays_within_its_bounds(values, rate, fixed, free_events, free_amount, minimum, spread):
    maximum = None if spread is None else (minimum or D(0)) + spread
    props = PercentageProperties(rate, fixed, free_events, free_amount, minimum, maximum)
    fee = pricing.percentage_amount(values, props)
    assert sum(line.amount for line in fee.breakdown) == fee.amount
    assert fee.units == sum(values, D(0))
    free_units = sum((line.units for line in fee.breakdown if line.kind == "FREE_UNITS"), D(0))
    paid = next(line for line in fee.breakdown if line.kind == BreakdownKind.PAID_EVENTS)
    assert free_units + paid.units == fee.units
    if free_amount is not None:
        assert free_units <= free_amount
    if free_events is not None:
        assert paid.events >= len(values) - free_events
    if maximum is not None:
        assert fee.amount <= paid.events * maximum
    if minimum is not None:
        assert fee.amount >= paid.events * minimum
    no_allowance = PercentageProperties(rate, fixed, None, None, minimum, maximum)
    assert fee.amount <= pricing.percentage_amount(values, no_allowance).amount


# --- a quantity's price (the plan editor's preview) --------------------------------------


@quick
@given(
    units=st.decimals(min_value=0, max_value=10_000, places=3, allow_nan=False),
    model=st.sampled_from([ChargeModel.GRADUATED, ChargeModel.VOLUME]),
)
def test_quantity_fee_is_the_billing_rule_for_range_models(units, model):
    ranges = graduated(("0", "10", "2", "5"), ("11", "100", "1", "0"), ("101", None, "0.5", "20"))
    properties = pricing.GraduatedProperties(ranges) if model is ChargeModel.GRADUATED else pricing.VolumeProperties(
        ranges
    )
    assert pricing.quantity_fee(model, properties, units) == pricing.charge_fee(model, properties, units)


def test_quantity_fee_prices_a_percentage_quantity_as_one_event():
    properties = PercentageProperties(D("2"), D("0.30"), per_transaction_max_amount=D("1"))
    fee = pricing.quantity_fee(ChargeModel.PERCENTAGE, properties, D("100"))
    assert fee.amount == D("1")  # 2.00 + 0.30 lowered to the per-event maximum
    assert fee == pricing.percentage_amount([D("100")], properties)


def test_quantity_fee_refuses_invalid_ranges_on_the_field():
    ranges = graduated(("0", "10", "1", "0"), ("5", None, "1", "0"))
    with pytest.raises(DomainError) as refused:
        pricing.quantity_fee(ChargeModel.GRADUATED, pricing.GraduatedProperties(ranges), D("3"))
    assert refused.value.field == ("graduatedRanges", "1", "fromValue")
