"""Persistence: the only package that writes SQL."""
