"""The gateway's authentication: the demo credentials, tokens and AK/SK signatures.

Signatures are checked with `jobtools.api.auth`, the very functions the client signs with.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from jobtools.api import auth

# Documented demo credentials: not secrets, they open nothing but a local simulator.
DEMO_PROJECT_ID = "0d3a6f8c2b9e4a71b5c8e2f4a6d9b3c1"
DEMO_TOKEN = "demo-token"
DEMO_AK = "DEMOAK"
DEMO_SK = "DEMOSK"
MAX_DATE_SKEW = 15 * 60  # seconds the gateway allows X-Sdk-Date to be off


def demo_credentials(project_id: str = DEMO_PROJECT_ID) -> list[auth.Credentials]:
    """The demo token and AK/SK pair the simulator accepts by default."""
    return [
        auth.TokenCredentials(token=DEMO_TOKEN, project_id=project_id),
        auth.AkSkCredentials(ak=DEMO_AK, sk=DEMO_SK, project_id=project_id),
    ]


class Gate:
    """The credentials a simulator accepts; their secrets never leave this object."""

    def __init__(self, credentials: auth.Credentials | Iterable[auth.Credentials]) -> None:
        self._tokens: dict[str, auth.TokenCredentials] = {}
        self._keys: dict[str, auth.AkSkCredentials] = {}
        items = [credentials] if isinstance(credentials, auth.Credentials) else list(credentials)
        for item in items:
            if isinstance(item, auth.TokenCredentials):
                self._tokens[item.token] = item
            elif isinstance(item, auth.AkSkCredentials):
                self._keys[item.ak] = item
            else:
                kind = type(item).__name__
                raise TypeError(f"credentials must be Token- or AkSkCredentials, got {kind}")

    def __repr__(self) -> str:
        return f"Gate(tokens={len(self._tokens)}, access_keys={len(self._keys)})"

    def identity(self, headers: Mapping[str, str]) -> str | None:
        """The token or access key a request (already checked) came with."""
        authorization = headers.get("authorization")
        if authorization is None:
            return headers.get("x-auth-token")
        try:
            return auth.parse_authorization(authorization)[0]
        except ValueError:
            return None

    def check(
        self,
        method: str,
        path: str,
        query: str,
        headers: Mapping[str, str],
        body: bytes,
        now: float,
    ) -> str | None:
        """None when the request is authenticated at `now`, else what is wrong (no secret)."""
        authorization = headers.get("authorization")
        if authorization is None:
            token = headers.get("x-auth-token")
            if token is None:
                return "no X-Auth-Token or Authorization header"
            return None if token in self._tokens else "the token is invalid or expired"
        try:
            access, signed, signature = auth.parse_authorization(authorization)
        except ValueError:
            return "the Authorization header is not SDK-HMAC-SHA256"
        key = self._keys.get(access)
        if key is None:
            return "the access key does not exist"
        sdk_date = headers.get("x-sdk-date")
        try:
            signed_at = auth.parse_sdk_date(sdk_date or "")
        except ValueError:
            return "X-Sdk-Date is missing or malformed"
        if abs(signed_at.timestamp() - now) > MAX_DATE_SKEW:
            return "X-Sdk-Date is more than 15 minutes off; the request has expired"
        if "x-sdk-date" not in signed.split(";"):
            return "X-Sdk-Date is not signed"
        if key.security_token is not None and headers.get("x-security-token") != key.security_token:
            return "the security token is missing or invalid"
        if not auth.verify_signature(key.sk, method, path, query, headers, body, signed, signature):
            return "verify aksk signature fail"
        return None
