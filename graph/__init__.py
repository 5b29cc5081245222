"""Strawberry GraphQL: thin translation between the API and services/. No billing rule here."""
