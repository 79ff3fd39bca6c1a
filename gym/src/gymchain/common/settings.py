"""Settings of every gymchain process, from environment variables with the prefix ``GYM_``.

The defaults work on a development machine (local PostgreSQL, Redis, RabbitMQ with trust auth / guest). Secrets
have development defaults too; ``GYM_ENV=production`` refuses to start with them (see :func:`check_production`).
"""

from __future__ import annotations

import base64
from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SECRET = "dev-only-jwt-secret-change-me-0123456789abcdef"
DEV_PII_KEY = base64.urlsafe_b64encode(b"dev-only-pii-key-32-bytes-long!!").decode()
DEV_INDEX_KEY = "dev-only-blind-index-key-change-me"
DEV_SYNC_SECRET = "dev-only-sync-secret-change-me"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GYM_", extra="ignore")

    env: str = "development"  # "production" forbids the development secrets
    database_url: str = "postgresql+psycopg://postgres@127.0.0.1:5432/gymchain"
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_prefix: str = "gym:"  # every Redis key of this deployment starts with it (tests use a per-run one)
    rabbit_url: str = "amqp://guest:guest@127.0.0.1:5672/%2F"
    rabbit_queue_suffix: str = ""  # tests use a per-run suffix
    kafka_bootstrap: str = "127.0.0.1:9092"
    kafka_topic_suffix: str = ""  # tests use a per-run suffix
    sync_secret: str = DEV_SYNC_SECRET  # HMAC key for unit <-> central sync tokens (G2's sync)
    central_sync_url: str = "http://127.0.0.1:8110"
    docstore_backend: str = "postgres"  # or "mongo" where a MongoDB exists
    mongo_url: str = "mongodb://127.0.0.1:27017/gymchain"

    jwt_secret: str = DEV_SECRET
    jwt_issuer: str = "gymchain-auth"
    access_token_minutes: int = Field(15, ge=1, le=120)
    refresh_token_days: int = Field(14, ge=1, le=90)
    pii_key: str = DEV_PII_KEY  # urlsafe base64 of 32 bytes (AES-256-GCM)
    blind_index_key: str = DEV_INDEX_KEY  # HMAC-SHA256 key for e-mail/CPF lookups

    rate_limit_per_minute: int = Field(600, ge=1)  # per client (user id, or IP when anonymous) at the gateway
    login_rate_limit_per_minute: int = Field(30, ge=1)  # per IP on /api/auth/token
    occupancy_alert_ratio: float = Field(0.9, gt=0, le=1.5)

    auth_url: str = "http://127.0.0.1:8001"
    members_url: str = "http://127.0.0.1:8002"
    analytics_url: str = "http://127.0.0.1:8003"
    vision_url: str = "http://127.0.0.1:8004"
    assistant_url: str = "http://127.0.0.1:8005"
    upstream_timeout_s: float = Field(30.0, gt=0, le=300)

    def service_urls(self) -> dict[str, str]:
        return {"auth": self.auth_url, "members": self.members_url, "analytics": self.analytics_url,
                "vision": self.vision_url, "assistant": self.assistant_url}


def check_production(settings: Settings) -> None:
    """Refuse development secrets in production."""
    if settings.env != "production":
        return
    for name, dev in (("jwt_secret", DEV_SECRET), ("pii_key", DEV_PII_KEY), ("blind_index_key", DEV_INDEX_KEY),
                      ("sync_secret", DEV_SYNC_SECRET)):
        if getattr(settings, name) == dev:
            raise SystemExit(f"GYM_{name.upper()}: the development default is not allowed when GYM_ENV=production")


@lru_cache
def get_settings() -> Settings:
    settings = Settings()
    check_production(settings)
    return settings
