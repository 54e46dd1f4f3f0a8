"""A token issuer the test holds (as a Kubernetes cluster's OIDC issuer would be), and a
feature route that shows the claims of the access token the app gets (never the token)."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import APIRouter, Depends

from secure_auth.web.dependencies import access_token_for
from tests.support.certs import new_rsa_key

TOKEN_EXCHANGE_AUDIENCE = "api://AzureADTokenExchange"
TOKEN_FACTS_PATH = "/test/token-facts"


class TestIssuer:
    """Signs JWTs with a key only the test has; publishes the public half as a JWKS."""

    __test__ = False  # not a test class

    def __init__(self, issuer: str, kid: str = "test-issuer-key-1", key: rsa.RSAPrivateKey | None = None) -> None:
        self.issuer = issuer
        self.kid = kid
        self.key = key or new_rsa_key()

    @property
    def jwks(self) -> dict[str, Any]:
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        return {"keys": [{**jwk, "kid": self.kid, "use": "sig", "alg": "RS256"}]}

    def mint(self, subject: str, *, lifetime: int = 3600, **claims: Any) -> str:
        now = int(time.time())
        payload = {
            "iss": self.issuer,
            "sub": subject,
            "aud": TOKEN_EXCHANGE_AUDIENCE,
            "iat": now,
            "nbf": now,
            "exp": now + lifetime,
            "jti": str(uuid.uuid4()),
            **claims,
        }
        return jwt.encode(payload, self.key, algorithm="RS256", headers={"kid": self.kid})

    def write(self, path: Path, subject: str, **claims: Any) -> str:
        """Write a fresh token to `path`, as the kubelet rotates a projected token; return its jti."""
        token = self.mint(subject, **claims)
        path.write_text(token + "\n")
        return jwt.decode(token, options={"verify_signature": False})["jti"]


def token_facts_router(scope: str = "User.Read") -> APIRouter:
    """GET /test/token-facts: claims of the user's access token for `scope` (a feature page
    calling an API would send that token)."""
    router = APIRouter()

    @router.get(TOKEN_FACTS_PATH)
    async def token_facts(token: str = Depends(access_token_for(scope))) -> dict[str, Any]:
        claims = jwt.decode(token, options={"verify_signature": False})
        return {name: claims.get(name) for name in ("aud", "azpacr", "xms_cc", "scp")}

    return router
