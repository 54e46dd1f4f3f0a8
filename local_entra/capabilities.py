"""Client capabilities, as Entra reads them: MSAL sends ``client_capabilities`` inside the
``claims`` request parameter as ``{"access_token": {"xms_cc": {"values": ["cp1"]}}}``,
and access tokens then carry ``xms_cc`` (cp1: the client handles claims challenges, CAE)."""

from __future__ import annotations

import json

MAX_CLAIMS_LENGTH = 16_384


def requested_capabilities(claims_parameter: object) -> list[str]:
    """``access_token.xms_cc.values`` from a ``claims`` parameter; [] when absent or malformed
    (Entra ignores claims it does not understand)."""
    if not isinstance(claims_parameter, str) or not claims_parameter or len(claims_parameter) > MAX_CLAIMS_LENGTH:
        return []
    try:
        claims = json.loads(claims_parameter)
    except (ValueError, RecursionError):  # not JSON, or nested deeper than the parser goes
        return []
    access_token = claims.get("access_token") if isinstance(claims, dict) else None
    xms_cc = access_token.get("xms_cc") if isinstance(access_token, dict) else None
    values = xms_cc.get("values") if isinstance(xms_cc, dict) else None
    if not isinstance(values, list):
        return []
    return list(dict.fromkeys(v for v in values if isinstance(v, str) and v))
