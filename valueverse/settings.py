"""Configuration from the environment (documented in .env.example)."""

from __future__ import annotations

import secrets
from pathlib import Path

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
    frontend_dir: Path | None = None  # the frontend's static export; unset: frontend/out of this checkout
    worker_cron: bool = True  # the worker's schedule (billing, drafts, thresholds, partitions); off: jobs only

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
