from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain import invoicing, money
from domain.coupons import AppliedCoupon, Coupon, CouponDuration, CouponKind
from domain.errors import CouponCurrencyMismatch, InvalidPeriodFraction, NegativeInvoiceAmount
from domain.invoicing import InvoiceLineInput, InvoiceLineKind
from domain.tax import TaxContext, TaxRate

quick = settings(max_examples=80, deadline=None, database=None)

VAT20 = TaxRate("VAT20", "VAT 20%", D(20))
DOMESTIC = TaxContext("FR", "FR", "FR40303265045")
US = TaxContext("US", "US")
TEN_PERCENT = Coupon("TEN", CouponKind.PERCENTAGE, percentage=D(10))


def line(amount, rates=(VAT20,), kind=InvoiceLineKind.CHARGE, description="Fee"):
    return InvoiceLineInput(kind, description, D(amount), tuple(rates))


def invoice(lines, coupons=(), ctx=DOMESTIC, credit_notes=0, wallet=0, currency="USD", **kwargs):
    return invoicing.compute_invoice(lines, coupons, ctx, D(credit_notes), D(wallet), currency, **kwargs)


# --- worked examples ------------------------------------------------------------------


def test_usd_invoice_with_three_lines_a_10_percent_coupon_and_20_percent_vat():
    totals = invoice(
        [
            line("49.99", kind=InvoiceLineKind.SUBSCRIPTION, description="Pro plan"),
            line("12.3456", description="API calls"),  # rounds to 12.35
            line("7.005", description="Storage"),  # half away from zero: 7.01
        ],
        [TEN_PERCENT],
    )
    assert [(x.amount, x.discount, x.taxable_amount, x.tax) for x in totals.lines] == [
        (D("49.99"), D("5.00"), D("44.99"), D("9.00")),  # 8.998
        (D("12.35"), D("1.24"), D("11.11"), D("2.22")),  # 2.222
        (D("7.01"), D("0.70"), D("6.31"), D("1.26")),  # 1.262
    ]
    assert totals.subtotal == D("69.35")
    assert totals.discount_amount == D("6.94")  # 6.935
    assert totals.tax_amount == D("12.48")
    assert totals.total == totals.amount_due == D("74.89")
    assert totals.lines[0].rates == (VAT20,) and totals.lines[0].kind is InvoiceLineKind.SUBSCRIPTION
    assert not totals.reverse_charge and totals.note is None
    assert totals.coupon_discounts[0].amount == D("6.94")
    assert totals.applied_coupons == (AppliedCoupon(TEN_PERCENT, periods_used=1),)
    assert totals.to_minor_units()["amount_due"] == 7489
    assert totals.lines[1].to_minor_units("USD")["tax"] == 222


def test_jpy_invoice_has_no_decimals():
    totals = invoice([line("1000.5"), line("333.4")], [TEN_PERCENT], currency="JPY")
    assert [x.amount for x in totals.lines] == [D(1001), D(333)]
    assert totals.discount_amount == D(133)  # 133.4
    assert [x.tax for x in totals.lines] == [D(180), D(60)]  # 901 x 20% = 180.2, 300 x 20% = 60
    assert totals.total == D(1334) - D(133) + D(240) == D(1441)
    assert totals.to_minor_units()["total"] == 1441
    assert all(amount.as_tuple().exponent == 0 for amount in (totals.subtotal, totals.tax_amount, totals.amount_due))


def test_kwd_invoice_has_three_decimals():
    totals = invoice([line("10.0005"), line("0.1234")], currency="KWD")
    assert [x.amount for x in totals.lines] == [D("10.001"), D("0.123")]
    assert [x.tax for x in totals.lines] == [D("2.000"), D("0.025")]  # 2.0002, 0.0246
    assert totals.total == D("12.149")
    assert totals.to_minor_units()["total"] == 12149


def test_reverse_charge_fr_seller_de_customer_with_valid_vat_number():
    totals = invoice([line(100), line(50)], ctx=TaxContext("FR", "DE", "DE136695976"), currency="EUR")
    assert totals.tax_amount == D("0.00") and totals.total == D("150.00")
    assert totals.reverse_charge and all(x.reverse_charge and x.rates == () for x in totals.lines)
    assert totals.note == invoicing.REVERSE_CHARGE_NOTE
    assert "Article 196 of Council Directive 2006/112/EC" in totals.note


def test_same_country_business_pays_tax():
    totals = invoice([line(100)], ctx=TaxContext("DE", "DE", "DE136695976"), currency="EUR")
    assert totals.tax_amount == D("20.00") and not totals.reverse_charge and totals.note is None


def test_invalid_vat_number_format_pays_tax():
    totals = invoice([line(100)], ctx=TaxContext("FR", "DE", "DE12345"), currency="EUR")
    assert totals.tax_amount == D("20.00") and not totals.reverse_charge


def test_exempt_customer_pays_no_tax():
    totals = invoice([line(100)], ctx=TaxContext("FR", "FR", None, customer_tax_exempt=True), currency="EUR")
    assert totals.tax_amount == D("0.00") and totals.tax_exempt and totals.lines[0].exempt
    assert totals.note is None


def test_each_line_is_taxed_at_its_own_rates():
    state = TaxRate("CA", "California", D("7.25"))
    totals = invoice([line(100, rates=[state]), line(100, rates=[])], ctx=US)
    assert [x.tax for x in totals.lines] == [D("7.25"), D("0.00")]


# --- credit notes and wallet ----------------------------------------------------------


def test_credit_notes_then_wallet_reduce_the_amount_due():
    totals = invoice([line(100)], credit_notes=30, wallet=50)  # total 120
    assert (totals.credit_notes_amount, totals.credits_amount, totals.amount_due) == (
        D("30.00"),
        D("50.00"),
        D("40.00"),
    )


def test_credits_are_capped_at_what_is_left():
    totals = invoice([line(100)], credit_notes=200, wallet=50)
    assert (totals.credit_notes_amount, totals.credits_amount, totals.amount_due) == (D("120.00"), D("0.00"), D("0.00"))
    totals = invoice([line(100)], credit_notes=100, wallet=50)
    assert (totals.credit_notes_amount, totals.credits_amount, totals.amount_due) == (
        D("100.00"),
        D("20.00"),
        D("0.00"),
    )


def test_credits_are_taken_in_whole_minor_units_rounded_down():
    totals = invoice([line(100)], wallet=D("10.009"))
    assert totals.credits_amount == D("10.00")


def test_wallet_applies_after_tax():
    totals = invoice([line(100)], [TEN_PERCENT], wallet=1000)
    assert totals.tax_amount == D("18.00") and totals.credits_amount == D("108.00") and totals.amount_due == 0


# --- coupons on invoices --------------------------------------------------------------


def test_used_up_coupons_are_skipped_and_uses_recorded_only_when_they_discount():
    once = AppliedCoupon(Coupon("ONCE", CouponKind.FIXED, amount=D(5), currency="USD"))
    used = AppliedCoupon(TEN_PERCENT, periods_used=1)
    forever = AppliedCoupon(Coupon("F", CouponKind.PERCENTAGE, percentage=D(1), duration=CouponDuration.FOREVER))
    totals = invoice([line(100)], [used, once, forever])
    assert totals.discount_amount == D("5.95")  # 5.00, then 1% of 95.00
    assert [a.periods_used for a in totals.applied_coupons] == [1, 1]
    empty = invoice([line(0)], [once])
    assert empty.applied_coupons == (once,)  # nothing discounted: the coupon is not used up


def test_fixed_coupon_beyond_the_subtotal_is_lost():
    totals = invoice([line(3)], [Coupon("BIG", CouponKind.FIXED, amount=D(10), currency="USD")])
    assert totals.discount_amount == D("3.00") and totals.total == D("0.00")


def test_fixed_coupon_in_another_currency_is_an_error_at_its_position():
    euro = Coupon("EUR5", CouponKind.FIXED, amount=D(5), currency="EUR")
    with pytest.raises(CouponCurrencyMismatch) as caught:
        invoice([line(10)], [TEN_PERCENT, euro])
    assert caught.value.field == ("coupons", "1", "currency")


# --- progressive billing --------------------------------------------------------------


def test_interim_invoices_are_credited_before_tax():
    already = invoicing.progressive_billing_credit([D("40.00"), D("20.00")])
    assert already == D("60.00")
    totals = invoice([line(100), line(50)], progressive_billing_credit=already)
    assert totals.progressive_billing_credit_amount == D("60.00")
    assert [x.progressive_billing_credit for x in totals.lines] == [D("40.00"), D("20.00")]
    assert totals.tax_amount == D("18.00")  # 20% of 90 not yet billed
    assert totals.total == D("108.00") == totals.subtotal - totals.progressive_billing_credit_amount + totals.tax_amount


def test_progressive_billing_credit_is_capped_at_what_is_left_after_discounts():
    totals = invoice([line(100)], [TEN_PERCENT], progressive_billing_credit=D(95))
    assert totals.progressive_billing_credit_amount == D("90.00") and totals.total == D("0.00")


def test_progressive_billing_credit_rejects_negative_totals():
    with pytest.raises(NegativeInvoiceAmount):
        invoicing.progressive_billing_credit([D(5), D(-1)])
    assert invoicing.progressive_billing_credit([]) == 0


# --- bad input ------------------------------------------------------------------------


def test_negative_line_is_rejected_at_its_position():
    with pytest.raises(NegativeInvoiceAmount) as caught:
        invoice([line(1), line("-0.01")])
    assert caught.value.code == "NEGATIVE_INVOICE_AMOUNT" and caught.value.field == ("lines", "1", "amount")


def test_negative_credits_are_rejected():
    with pytest.raises(NegativeInvoiceAmount):
        invoice([line(1)], wallet=-1)
    with pytest.raises(NegativeInvoiceAmount):
        invoice([line(1)], credit_notes=-1)


@pytest.mark.parametrize(
    "call",
    [
        lambda: InvoiceLineInput("CHARGE", "x", 1.5),
        lambda: invoicing.compute_invoice([line(1)], (), DOMESTIC, 0.0, D(0), "USD"),
        lambda: invoicing.compute_invoice([line(1)], (), DOMESTIC, D(0), 1.0, "USD"),
        lambda: invoicing.minimum_commitment_true_up(100.0, D(1), D(0)),
        lambda: invoicing.minimum_commitment_true_up(D(100), 0.5, D(0)),
        lambda: invoicing.charge_minimum_true_up(D(10), 1.0),
        lambda: invoicing.progressive_billing_credit([1.0]),
    ],
)
def test_float_input_raises_type_error(call):
    with pytest.raises(TypeError):
        call()


def test_empty_invoice_is_zero_in_the_currency():
    totals = invoice([], currency="KWD")
    assert totals.total == 0 and totals.total.as_tuple().exponent == -3


# --- minimum commitments --------------------------------------------------------------


def test_minimum_commitment_true_up_is_the_prorated_shortfall():
    assert invoicing.minimum_commitment_true_up(D(1000), D(1), D(400)) == D(600)
    assert invoicing.minimum_commitment_true_up(D(1000), D(15) / D(30), D(400)) == D(100)
    assert invoicing.minimum_commitment_true_up(D(1000), D(1), D(1200)) == 0
    assert invoicing.minimum_commitment_true_up(D(1000), D(0), D(0)) == 0


def test_period_fraction_is_between_0_and_1():
    for fraction in (D("-0.1"), D("1.01")):
        with pytest.raises(InvalidPeriodFraction):
            invoicing.minimum_commitment_true_up(D(1000), fraction, D(0))


def test_charge_minimum_tops_the_fee_up():
    assert invoicing.charge_minimum_true_up(D(10), D("3.5")) == D("6.5")
    assert invoicing.charge_minimum_true_up(D(10), D(12)) == 0


# --- invariants -----------------------------------------------------------------------

CURRENCIES = ["USD", "JPY", "KWD"]
RATES = [TaxRate("A", "A", D(20)), TaxRate("B", "B", D("7.25")), TaxRate("C", "C", D("2.5")), TaxRate("Z", "Z", D(0))]
CONTEXTS = [
    DOMESTIC,
    US,
    TaxContext("FR", "DE", "DE136695976"),
    TaxContext("FR", "DE", "DE136695975"),
    TaxContext("FR", "FR", None, customer_tax_exempt=True),
]


@st.composite
def invoices(draw):
    currency = draw(st.sampled_from(CURRENCIES))
    places = money.currency_exponent(currency)
    amounts = st.decimals(min_value=0, max_value=1_000_000, places=6)
    lines = draw(
        st.lists(
            st.builds(line, amounts, st.lists(st.sampled_from(RATES), max_size=3, unique=True)),
            max_size=6,
        )
    )
    smallest = D(1).scaleb(-places)
    coupon = st.one_of(
        st.builds(
            lambda p: Coupon("P", CouponKind.PERCENTAGE, percentage=p),
            st.decimals(min_value=D("0.01"), max_value=100, places=2),
        ),
        st.builds(
            lambda a: Coupon("F", CouponKind.FIXED, amount=a, currency=currency),
            st.decimals(min_value=smallest, max_value=1_000_000, places=places),
        ),
    )
    credit = st.decimals(min_value=0, max_value=2_000_000, places=places + 1)
    return dict(
        lines=lines,
        coupons=draw(st.lists(coupon, max_size=3)),
        ctx=draw(st.sampled_from(CONTEXTS)),
        credit_notes=draw(credit),
        wallet=draw(credit),
        currency=currency,
        progressive_billing_credit=draw(st.just(D(0)) | credit),
    )


AMOUNTS = [
    "subtotal",
    "discount_amount",
    "progressive_billing_credit_amount",
    "tax_amount",
    "total",
    "credit_notes_amount",
    "credits_amount",
    "amount_due",
]
LINE_AMOUNTS = ["amount", "discount", "progressive_billing_credit", "taxable_amount", "tax"]


@quick
@given(invoices())
def test_totals_add_up_exactly(case):
    t = invoice(**case)
    assert t.total == t.subtotal - t.discount_amount - t.progressive_billing_credit_amount + t.tax_amount
    assert t.amount_due == t.total - t.credit_notes_amount - t.credits_amount
    assert t.subtotal == sum((x.amount for x in t.lines), D(0))
    assert (
        t.discount_amount
        == sum((x.discount for x in t.lines), D(0))
        == sum((c.amount for c in t.coupon_discounts), D(0))
    )
    assert t.tax_amount == sum((x.tax for x in t.lines), D(0))
    assert t.credit_notes_amount <= case["credit_notes"] and t.credits_amount <= case["wallet"]
    for given_line, computed in zip(case["lines"], t.lines, strict=True):
        assert computed.amount == money.round_minor(given_line.amount, t.currency)
        assert computed.taxable_amount == computed.amount - computed.discount - computed.progressive_billing_credit


@quick
@given(invoices())
def test_every_amount_is_quantized_to_the_currency_and_never_negative(case):
    t = invoice(**case)
    exponent = -money.currency_exponent(t.currency)
    amounts = [getattr(t, name) for name in AMOUNTS]
    amounts += [getattr(x, name) for x in t.lines for name in LINE_AMOUNTS]
    assert all(isinstance(a, D) and a.as_tuple().exponent == exponent and a >= 0 for a in amounts)
    assert set(t.to_minor_units()) == set(AMOUNTS)
    assert all(isinstance(v, int) and v >= 0 for v in t.to_minor_units().values())


@quick
@given(invoices())
def test_tax_is_zero_exactly_when_exempt_or_reverse_charged(case):
    t = invoice(**case)
    if t.tax_exempt or t.reverse_charge:
        assert t.tax_amount == 0
    assert t.reverse_charge == (t.note == invoicing.REVERSE_CHARGE_NOTE)


# --- credit notes by line ---------------------------------------------------------------------------


def test_a_whole_line_is_credited_with_its_tax():
    from domain.invoicing import CreditableLine, credit_note_item

    assert credit_note_item(CreditableLine(net_minor=10_000, tax_minor=2_000)) == (10_000, 2_000)


def test_part_of_a_line_gives_back_its_share_of_the_tax_rounded_half_away_from_zero():
    from domain.invoicing import CreditableLine, credit_note_item

    # 20 % of 33.33 = 6.666 -> 6.67: a third of the 100.00 line taxed 20.00
    assert credit_note_item(CreditableLine(10_000, 2_000), 3_333) == (3_333, 667)


def test_a_line_cannot_be_credited_beyond_what_is_left_of_it():
    from domain.errors import CreditNoteLineTooLarge, InvalidCreditAmount
    from domain.invoicing import CreditableLine, credit_note_item

    with pytest.raises(CreditNoteLineTooLarge):
        credit_note_item(CreditableLine(10_000, 2_000, credited_net_minor=9_000, credited_tax_minor=1_800), 1_001)
    with pytest.raises(InvalidCreditAmount):
        credit_note_item(CreditableLine(10_000, 2_000, credited_net_minor=10_000, credited_tax_minor=2_000))
    with pytest.raises(InvalidCreditAmount):
        credit_note_item(CreditableLine(10_000, 2_000), 0)


@settings(max_examples=80, deadline=None, database=None)
@given(
    net=st.integers(1, 10_000_000),
    rate=st.sampled_from([0, 5, 7, 19, 20, 21, 25]),
    cuts=st.lists(st.integers(1, 99), max_size=6),
)
def test_crediting_a_line_in_parts_gives_back_exactly_its_amount_and_tax(net, rate, cuts):
    from domain.invoicing import CreditableLine, credit_note_item

    tax = int((D(net) * rate / 100).quantize(D(1), rounding="ROUND_HALF_UP"))
    credited_net = credited_tax = 0
    for cut in cuts:
        left = net - credited_net
        part = max(1, left * cut // 100)
        if part >= left:
            break
        item_net, item_tax = credit_note_item(CreditableLine(net, tax, credited_net, credited_tax), part)
        assert item_net == part and 0 <= item_tax <= tax - credited_tax
        credited_net, credited_tax = credited_net + item_net, credited_tax + item_tax
    last = credit_note_item(CreditableLine(net, tax, credited_net, credited_tax))
    assert (credited_net + last[0], credited_tax + last[1]) == (net, tax)
