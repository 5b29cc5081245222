"""Use cases shared by graph/ and workers/: load → domain → persist → after-commit work."""
