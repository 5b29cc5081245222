"""Usage: accept events exactly once (`ingestion`), and rate the current period of a subscription (`rating`)."""
