"""The core objects one application uses, built once by the app factory.

Routes reach them through the dependency aliases in web/dependencies.py.
"""

from __future__ import annotations

from dataclasses import dataclass

from secure_auth.config import Settings
from secure_auth.identity.client import IdentityClient
from secure_auth.identity.pending import PendingSignIns
from secure_auth.operations.readiness import Readiness
from secure_auth.outbound.clients import OutboundClients
from secure_auth.outbound.graph import GraphClient
from secure_auth.outbound.stream_slots import StreamSlots
from secure_auth.sessions.manager import SessionManager
from secure_auth.stores.base import StateStore
from secure_auth.stores.factory import Stores
from secure_auth.tokens.service import TokenService


@dataclass
class Services:
    settings: Settings
    identity: IdentityClient
    stores: Stores
    sessions: SessionManager
    state_store: StateStore  # backups of pending sign-ins (the StateStore)
    pending: PendingSignIns  # pending sign-ins: in the sealed flow cookie, backed up in state_store
    tokens: TokenService
    outbound: OutboundClients
    graph: GraphClient
    readiness: Readiness
    proxy_slots: StreamSlots
