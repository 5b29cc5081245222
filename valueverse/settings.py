"""Configuration from the environment (documented in .env.example)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    database_url: str | None = None
    redis_url: str | None = None
    secret_key: str | None = None
    session_ttl_seconds: int = 900
    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = Path(".valueverse")
    log_level: str = "INFO"
    log_format: str = "json"
    db_pool_size: int = 10
    # API processes of `serve`, sharing its port; unset: one per core this process may run on.
    web_concurrency: int | None = Field(default=None, ge=1, le=256)
    worker_cron: bool = True  # the worker's schedule (billing, drafts, thresholds, partitions); off: jobs only

    def api_processes(self) -> int:
        """How many API processes `serve` runs: WEB_CONCURRENCY, else the number of usable cores."""
        if self.web_concurrency:
            return self.web_concurrency
        try:
            return max(1, len(os.sched_getaffinity(0)))
        except AttributeError:  # not on Linux
            return os.cpu_count() or 1

    def resolved_secret_key(self) -> str:
        """The configured key, or one generated once and kept in the data directory (local use)."""
        if self.secret_key:
            return self.secret_key
        path = self.data_dir / "secret_key"
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(48))
            path.chmod(0o600)
        return path.read_text().strip()
