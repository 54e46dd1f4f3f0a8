"""The identity provider: MSAL for the protocol, plus what MSAL leaves to the app (its HTTP
client, the signing keys, id_token validation, error classification, AADSTS explanations)."""
