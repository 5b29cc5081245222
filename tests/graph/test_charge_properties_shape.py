"""The GraphQL charge properties have exactly the fields domain/charge_models.py defines (no server needed)."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from domain import charge_models, pricing
from graph.types import charge_properties as gql


def _names(strawberry_class: type) -> list[str]:
    return [f.python_name for f in strawberry_class.__strawberry_definition__.fields]


def _shape(shape: type) -> list[str]:
    return [f.name for f in charge_models.fields(shape)]


@pytest.mark.parametrize(
    ("strawberry_class", "shape"),
    [
        (gql.ChargeProperties, charge_models.ChargeProperties),
        (gql.ChargePropertiesInput, charge_models.ChargeProperties),
        (gql.GraduatedRange, charge_models.GraduatedRange),
        (gql.GraduatedRangeInput, charge_models.GraduatedRange),
        (gql.GraduatedPercentageRange, charge_models.PercentageRange),
        (gql.GraduatedPercentageRangeInput, charge_models.PercentageRange),
    ],
)
def test_graphql_fields_are_the_charge_model_fields(strawberry_class: type, shape: type) -> None:
    assert _names(strawberry_class) == _shape(shape)


def test_every_model_takes_only_fields_of_the_one_shape() -> None:
    every = set(_shape(charge_models.ChargeProperties))
    for model in charge_models.ChargeModel:
        assert set(_shape(charge_models.SHAPES[model])) <= every
    assert pricing.RANGES_FIELD == {
        pricing.ChargeModel.GRADUATED: "graduatedRanges",
        pricing.ChargeModel.VOLUME: "volumeRanges",
        pricing.ChargeModel.GRADUATED_PERCENTAGE: "graduatedPercentageRanges",
    }


def test_stored_properties_are_shown_as_they_were_stored() -> None:
    stored = pricing.properties_as_json(
        pricing.parse_properties(
            pricing.ChargeModel.PERCENTAGE, {"rate": "1.30", "freeUnitsPerEvents": 3, "perTransactionMaxAmount": "9"}
        )
    )
    shown = gql.ChargeProperties.of(stored)
    assert (shown.rate, shown.fixed_amount, shown.free_units_per_events, shown.per_transaction_max_amount) == (
        D("1.30"),
        D(0),
        3,
        D(9),
    )
    assert shown.amount is None and shown.graduated_ranges is None
    volume = gql.ChargeProperties.of({"volumeRanges": [{"fromValue": "0", "toValue": None, "perUnitAmount": "2.50"}]})
    assert volume.volume_ranges == [
        gql.GraduatedRange(from_value=D(0), to_value=None, per_unit_amount=D("2.50"), flat_amount=D(0))
    ]


def test_input_is_read_with_the_charge_model_names() -> None:
    given = gql.ChargePropertiesInput(
        package_size=D(10),
        graduated_ranges=[gql.GraduatedRangeInput(from_value=D(0), to_value=None, per_unit_amount=D(1))],
    )
    assert given.as_raw() == {
        "packageSize": D(10),
        "graduatedRanges": [{"fromValue": D(0), "toValue": None, "perUnitAmount": D(1), "flatAmount": D(0)}],
    }
