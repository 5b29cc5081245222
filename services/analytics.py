"""Revenue analytics: MRR and its movements, retention, ARPU, read from what billing stored.

What comes here: the read-side use cases of the analytics views (monthly recurring revenue from
the subscriptions in effect, normalised per interval; new, expansion, contraction and churned
MRR between two dates; net revenue retention; revenue per account), each one read session and
scoped to the caller's organization. The rules (normalisation of a yearly plan to a month, what
counts as expansion) belong in `domain/` (a `domain/analytics.py`), not here; nothing is written.

Nothing yet: this module marks the room.
"""
