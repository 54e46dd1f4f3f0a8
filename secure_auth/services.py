"""The objects a request needs, built once per application and kept on `app.state`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx
from fastapi.templating import Jinja2Templates

from secure_auth.config import Settings
from secure_auth.identity import IdentityClient
from secure_auth.sessions import SessionManager
from secure_auth.stores import StateStore

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from secure_auth.redis_store import RedisHealth
    from secure_auth.tokens import TokenService


@dataclass
class Services:
    settings: Settings
    identity: IdentityClient
    sessions: SessionManager
    state_store: StateStore
    templates: Jinja2Templates
    tokens: "TokenService"
    http: httpx.AsyncClient | None = None  # started with the application (Graph and the like)
    api_http: httpx.AsyncClient | None = None  # the API proxy's own pool, when API_BASE_URL is set
    redis: "Redis | None" = None  # when SESSION_STORE_URL is a Redis URL
    redis_health: "RedisHealth | None" = None
