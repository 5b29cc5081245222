"""What the mapped tables say about their columns, for checks made before a write."""

from __future__ import annotations

from sqlalchemy import String


def column_lengths(model: type) -> dict[str, int]:
    """Python attribute → maximum length, for the model's bounded text columns."""
    lengths = {}
    for attribute in model.__mapper__.column_attrs:  # type: ignore[attr-defined]
        column = attribute.columns[0]
        if isinstance(column.type, String) and column.type.length:
            lengths[attribute.key] = column.type.length
    return lengths
