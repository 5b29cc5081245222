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
    worker_cron: bool = True  # the worker's schedule (billing, drafts, thresholds, partitions); off: jobs only
    # Brakes (docs/api.md: "Rate limits", "Login protection"). A rate of 0 turns that limit off.
    rate_limit_per_second: int = 500  # per API key / per staff user
    rate_limit_burst: int = 1000
    rate_limit_ip_per_second: int = 1000
    rate_limit_ip_burst: int = 2000
    login_delay_after: int = 5  # failures of one email before logins slow down
    login_lock_after: int = 10
    login_ip_delay_after: int = 20  # failures from one IP address
    login_ip_lock_after: int = 50
    login_delay_seconds: float = 1.0  # the first delay; it doubles with each further failure
    login_lock_seconds: int = 900
    # How often a WebSocket's credentials are checked again (revocations also arrive at once over Redis).
    socket_recheck_seconds: float = 5.0

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
