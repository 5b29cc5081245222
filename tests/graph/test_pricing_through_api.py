"""Every charge model priced through the public API, with worked examples in the style of
Stripe's and Lago's pricing documentation. Amounts are as an invoice line would show them."""

from __future__ import annotations

from tests.graph.catalog_helpers import priced


async def test_standard_counts_units_times_amount(tenant) -> None:
    usage = await priced(tenant.api, "STANDARD", {"amount": "0.015"}, [100, 250, "650.5"])
    assert usage["charges"][0]["units"] == "1000.5"
    assert usage["charges"][0]["amount"] == "15.01"  # 15.0075 rounded half away from zero
    assert usage["amount"] == "15.01" and usage["currency"] == "USD"


async def test_decimal_values_are_read_exactly(tenant) -> None:
    usage = await priced(tenant.api, "STANDARD", {"amount": "1"}, ["0.1", "0.2", 0.3])
    assert usage["charges"][0]["units"] == "0.6"


async def test_graduated_prices_each_range_and_its_flat_fee(tenant) -> None:
    ranges = [
        {"fromValue": "0", "toValue": "100", "perUnitAmount": "1", "flatAmount": "10"},
        {"fromValue": "101", "toValue": None, "perUnitAmount": "0.5", "flatAmount": "20"},
    ]
    usage = await priced(tenant.api, "GRADUATED", {"graduatedRanges": ranges}, [150])
    charge = usage["charges"][0]
    assert charge["amount"] == "155.00"  # 100 x 1 + 10 + 50 x 0.5 + 20
    assert [(b["fromValue"], b["units"], b["amount"]) for b in charge["breakdown"]] == [
        ("0", "100", "110"),
        ("101", "50", "45.0"),
    ]


async def test_graduated_first_flat_fee_is_due_at_zero_units(tenant) -> None:
    ranges = [
        {"fromValue": "0", "toValue": "10", "perUnitAmount": "2", "flatAmount": "5"},
        {"fromValue": "11", "toValue": None, "perUnitAmount": "1", "flatAmount": "100"},
    ]
    usage = await priced(tenant.api, "GRADUATED", {"graduatedRanges": ranges}, [])
    assert usage["charges"][0]["units"] == "0" and usage["charges"][0]["amount"] == "5.00"


async def test_volume_prices_all_units_at_the_range_of_the_total(tenant) -> None:
    ranges = [
        {"fromValue": "0", "toValue": "100", "perUnitAmount": "1", "flatAmount": "0"},
        {"fromValue": "101", "toValue": None, "perUnitAmount": "0.8", "flatAmount": "5"},
    ]
    usage = await priced(tenant.api, "VOLUME", {"volumeRanges": ranges}, [150])
    assert usage["charges"][0]["amount"] == "125.00"  # 150 x 0.8 + 5


async def test_volume_places_a_fractional_total_by_its_ceiling(tenant) -> None:
    ranges = [
        {"fromValue": "0", "toValue": "100", "perUnitAmount": "1", "flatAmount": "0"},
        {"fromValue": "101", "toValue": None, "perUnitAmount": "0.5", "flatAmount": "0"},
    ]
    usage = await priced(tenant.api, "VOLUME", {"volumeRanges": ranges}, ["100.5"])
    assert usage["charges"][0]["amount"] == "50.25"  # 100.5 falls in 101-∞


async def test_package_charges_whole_packages_after_free_units(tenant) -> None:
    usage = await priced(tenant.api, "PACKAGE", {"amount": "10", "packageSize": "100", "freeUnits": "50"}, [251])
    assert usage["charges"][0]["amount"] == "30.00"  # ceil(201 / 100) = 3 packages


async def test_percentage_with_free_events_fixed_fee_and_per_transaction_minimum(tenant) -> None:
    properties = {"rate": "1.3", "fixedAmount": "0.10", "freeUnitsPerEvents": 2, "perTransactionMinAmount": "1"}
    usage = await priced(tenant.api, "PERCENTAGE", properties, [100, 200, 50, 1000])
    # the first two events are free; 50 -> 0.65 + 0.10 raised to 1.00; 1000 -> 13.00 + 0.10
    assert usage["charges"][0]["amount"] == "14.10"


async def test_graduated_percentage_prices_each_range_at_its_rate(tenant) -> None:
    ranges = [
        {"fromValue": "0", "toValue": "1000", "rate": "2", "flatAmount": "1"},
        {"fromValue": "1000", "toValue": None, "rate": "1", "flatAmount": "0"},
    ]
    usage = await priced(tenant.api, "GRADUATED_PERCENTAGE", {"graduatedPercentageRanges": ranges}, [1500])
    assert usage["charges"][0]["amount"] == "26.00"  # 1000 x 2% + 1 + 500 x 1%


async def test_zero_decimal_currency_rounds_to_whole_yen(tenant) -> None:
    usage = await priced(tenant.api, "STANDARD", {"amount": "0.5"}, [3], currency="JPY")
    assert usage["charges"][0]["amount"] == "2" and usage["currency"] == "JPY"


async def test_three_decimal_currency_keeps_fils(tenant) -> None:
    usage = await priced(tenant.api, "STANDARD", {"amount": "0.0015"}, [1001], currency="KWD")
    assert usage["charges"][0]["amount"] == "1.502"  # 1.5015 half away from zero


async def test_unique_count_and_max_and_count(tenant) -> None:
    unique = await priced(tenant.api, "STANDARD", {"amount": "2"}, ["u1", "u2", "u1"], aggregation="UNIQUE_COUNT")
    assert unique["charges"][0]["units"] == "2" and unique["amount"] == "4.00"
    peak = await priced(tenant.api, "STANDARD", {"amount": "1"}, [3, 9, 4], aggregation="MAX")
    assert peak["charges"][0]["units"] == "9"


async def test_charge_filters_price_dimensions_differently(tenant) -> None:
    usage = await priced(
        tenant.api,
        "STANDARD",
        {"amount": "1"},
        [10],
        region="eu",
        metric_filters=[{"key": "region", "values": ["eu", "us"]}],
        filters=[{"values": {"region": ["eu"]}, "properties": {"amount": "3"}}],
    )
    charge = usage["charges"][0]
    assert charge["amount"] == "30.00"
    assert [(f["values"], f["amount"]) for f in charge["filters"]] == [({"region": ["eu"]}, "30.00"), (None, "0.00")]
