"""Rankings: customers by usage revenue, revenue by plan (docs/analytics.md, "Top customers", "Revenue by plan")."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain import analytics
from domain.analytics import (
    CustomerHistory,
    CustomerInvoiceFact,
    FeeKind,
    FeePhase,
    InvoiceFact,
    PlanLineFact,
    PlannedSubscription,
    SubscriptionHistory,
)
from domain.errors import InvalidRankingLimit
from domain.periods import Interval

quick = settings(max_examples=80, deadline=None, database=None)
START, END = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC)


def invoice(customer, day, total, usage, voided=False):
    return CustomerInvoiceFact(customer, START + timedelta(days=day), D(total), D(usage), voided)


def test_customers_are_ranked_by_usage_then_invoiced_then_name():
    invoices = [
        invoice("a", 1, "100.00", "40.00"),
        invoice("a", 20, "10.00", "10.00"),  # a: usage 50.00, invoiced 110.00
        invoice("b", 3, "200.00", "50.00"),  # b: same usage, more invoiced: first
        invoice("c", 5, "500.00", "0.00"),
        invoice("d", 6, "900.00", "900.00", voided=True),  # voided: not invoiced after all
        invoice("e", 40, "900.00", "900.00"),  # after the window
    ]
    ranked = analytics.top_customers(invoices, [], "USD", START, END, 10)
    assert [(r.customer, r.usage_revenue, r.invoiced_amount, r.invoice_count) for r in ranked] == [
        ("b", D("50.00"), D("200.00"), 1),
        ("a", D("50.00"), D("110.00"), 2),
        ("c", D("0.00"), D("500.00"), 1),
    ]
    assert [r.customer for r in analytics.top_customers(invoices, [], "USD", START, END, 1)] == ["b"]


def test_a_ranked_customer_shows_its_mrr_at_the_window_end():
    history = CustomerHistory(
        "a", (SubscriptionHistory(START, (FeePhase(START, None, D("1200"), Interval.YEARLY, "USD"),)),)
    )
    (ranked,) = analytics.top_customers([invoice("a", 1, "1", "1")], [history], "USD", START, END, 5)
    assert ranked.mrr == D("100.00")


@pytest.mark.parametrize("limit", [0, -1, 101])
def test_a_limit_outside_1_to_100_is_refused(limit):
    with pytest.raises(InvalidRankingLimit):
        analytics.top_customers([], [], "USD", START, END, limit)


@quick
@given(
    st.lists(
        st.tuples(
            st.sampled_from("abcdefgh"),
            st.integers(-5, 40),
            st.decimals("0", "1000", places=2),
            st.decimals("0", "1000", places=2),
            st.booleans(),
        ),
        max_size=30,
    )
)
def test_usage_of_all_ranked_customers_adds_up_to_the_windows_usage_revenue(rows):
    facts = [invoice(c, day, total, usage, voided) for c, day, total, usage, voided in rows]
    ranked = analytics.top_customers(facts, [], "USD", START, END, 100)
    cash = analytics.cash_figures(
        [
            InvoiceFact("USD", f.finalized_at, f.total, D(0), voided=f.voided, usage_amount=f.usage_amount)
            for f in facts
        ],
        [],
        "USD",
        START,
        END,
    )
    assert sum((r.usage_revenue for r in ranked), D(0)) == cash.usage_revenue
    assert sum((r.invoiced_amount for r in ranked), D(0)) == cash.invoiced
    assert [r.usage_revenue for r in ranked] == sorted((r.usage_revenue for r in ranked), reverse=True)


def planned(reference, *phases, ended_at=None):
    """phases: (starts_at, ends_at, plan, amount, interval)."""
    history = SubscriptionHistory(
        phases[0][0],
        tuple(FeePhase(s, e, D(amount), interval, "USD") for s, e, _, amount, interval in phases),
        ended_at=ended_at,
    )
    return PlannedSubscription(reference, history, tuple(plan for _, _, plan, _, _ in phases))


def test_revenue_by_plan_puts_each_line_on_the_plan_of_its_period_and_mrr_on_the_plan_at_the_end():
    upgraded_at = START + timedelta(days=10)
    subs = [
        planned(
            "s1",
            (START - timedelta(days=40), upgraded_at, "basic", "100", Interval.MONTHLY),
            (upgraded_at, None, "pro", "300", Interval.MONTHLY),
        ),
        planned("s2", (START - timedelta(days=5), None, "annual", "1200", Interval.YEARLY)),
        planned("s3", (START - timedelta(days=60), None, "basic", "100", Interval.MONTHLY), ended_at=START),
    ]
    lines = [
        PlanLineFact("s1", FeeKind.SUBSCRIPTION, D("32.26"), START, START + timedelta(days=10)),  # old plan's stub
        PlanLineFact("s1", FeeKind.SUBSCRIPTION, D("212.90"), upgraded_at, START + timedelta(days=10)),
        PlanLineFact("s1", FeeKind.CHARGE, D("5.00"), START, START + timedelta(days=31)),
        PlanLineFact("s2", FeeKind.TRUE_UP, D("7.50"), None, START + timedelta(days=2)),
        PlanLineFact("gone", FeeKind.CHARGE, D("99"), START, START),  # no such subscription: left out
    ]
    result = analytics.revenue_by_plan(subs, lines, "USD", END)
    assert [
        (p.plan, p.mrr, p.active_subscriptions, p.subscription_revenue, p.usage_revenue, p.true_up_revenue)
        for p in result
    ] == [
        ("pro", D("300.00"), 1, D("212.90"), D("0.00"), D("0.00")),
        ("basic", D("0.00"), 0, D("32.26"), D("5.00"), D("0.00")),
        ("annual", D("100.00"), 1, D("0.00"), D("0.00"), D("7.50")),
    ]
    assert result[1].total_revenue == D("37.26")


@quick
@given(st.lists(st.tuples(st.sampled_from(["p", "q", "r"]), st.decimals("0", "5000", places=2)), max_size=12))
def test_plan_mrr_adds_up_to_the_mrr_of_customers_without_coupons(rows):
    subs = [planned(f"s{i}", (START, None, plan, amount, Interval.MONTHLY)) for i, (plan, amount) in enumerate(rows)]
    customers = [CustomerHistory(s.reference, (s.history,)) for s in subs]
    total = sum((p.mrr for p in analytics.revenue_by_plan(subs, [], "USD", END)), D(0))
    assert total == analytics.movements(customers, "USD", START, END).end_mrr
