"""Queries, always scoped to one organization."""
