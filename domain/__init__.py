"""Pure billing rules: no I/O, no clock, no database, no GraphQL; Decimal, never float.

money (currencies, rounding), periods (billing periods), aggregation (billable metrics),
pricing (charge models), proration (days, plan changes, true-ups), errors (stable codes).
"""
