"""arq jobs: thin, idempotent, deterministic job ids."""
