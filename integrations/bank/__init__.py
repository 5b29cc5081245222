"""Bank statements (ISO 20022 camt.053, CSV) as provider-neutral statement lines."""
