"""Composition root: settings, ASGI app assembly, CLI, embedded servers."""
