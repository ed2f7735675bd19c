"""The gateway's authentication: the demo credentials, tokens and AK/SK signatures.

Signatures are checked with `jobtools.api.auth`, the very functions the client signs with.
The answers are the API signing guide's (its error codes and its FAQ "Common Errors Related
to IAM Authentication Information"; reference, "The gateway's answers"): 401 `APIGW.0301`
for a wrong signature ("verify aksk signature fail"), an unknown AK ("Get secretKey failed")
or token ("decrypt token fail"); 401 `APIGW.0307` for an expired token; and the AK lock: more
than 5 consecutive signature failures lock the AK for 5 minutes, for every caller, with
"AK access failed to reach the limit,forbidden".
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from typing import NamedTuple

from jobtools.api import auth

# Documented demo credentials: not secrets, they open nothing but a local simulator.
DEMO_PROJECT_ID = "0d3a6f8c2b9e4a71b5c8e2f4a6d9b3c1"
DEMO_TOKEN = "demo-token"
DEMO_AK = "DEMOAK"
DEMO_SK = "DEMOSK"
MAX_DATE_SKEW = 15 * 60  # seconds the gateway allows X-Sdk-Date to be off
# The AK lock (API signing guide): more than 5 consecutive signature failures lock the AK for
# 5 minutes. Failures further apart than the window do not add up (the guide gives none; a
# choice: the lock's own 5 minutes).
AK_LOCK_FAILURES = 5
AK_LOCK_SECONDS = 5 * 60.0
AK_LOCK_WINDOW = 5 * 60.0
PREFIX = "Incorrect IAM authentication information: "
AK_LOCKED = PREFIX + "AK access failed to reach the limit,forbidden."


class Refusal(NamedTuple):
    """Why the gateway refuses a request: its code and message (never a secret)."""

    code: str
    message: str
    signature: bool = False  # a failed signature of a known AK (counts toward the lock)


def demo_credentials(project_id: str = DEMO_PROJECT_ID) -> list[auth.Credentials]:
    """The demo token and AK/SK pair the simulator accepts by default."""
    return [
        auth.TokenCredentials(token=DEMO_TOKEN, project_id=project_id),
        auth.AkSkCredentials(ak=DEMO_AK, sk=DEMO_SK, project_id=project_id),
    ]


class Gate:
    """The credentials a simulator accepts; their secrets never leave this object."""

    def __init__(
        self,
        credentials: auth.Credentials | Iterable[auth.Credentials],
        expired_tokens: Iterable[str] = (),
    ) -> None:
        self._tokens: dict[str, auth.TokenCredentials] = {}
        self._keys: dict[str, auth.AkSkCredentials] = {}
        self._expired = frozenset(expired_tokens)
        self._lock = threading.Lock()
        self._failures: dict[str, tuple[int, float]] = {}  # AK -> (in a row, the last at)
        self._locked_until: dict[str, float] = {}
        self.signature_failures = 0  # refused signatures of known AKs, the lock's included
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
    ) -> Refusal | None:
        """None when the request is authenticated at `now`, else the refusal (no secret)."""
        authorization = headers.get("authorization")
        if authorization is None:
            token = headers.get("x-auth-token")
            if token is None:
                return Refusal("APIGW.0301", PREFIX + "x-auth-token not found")
            if token in self._expired:
                # APIGW.0307: "token expires" (the gateway's table).
                return Refusal("APIGW.0307", "The token expires. token expires, expires_at: -")
            if token not in self._tokens:
                return Refusal("APIGW.0301", PREFIX + "decrypt token fail")
            return None
        try:
            access, signed, signature = auth.parse_authorization(authorization)
        except ValueError:
            return Refusal("APIGW.0301", PREFIX + "the Authorization header is not SDK-HMAC-SHA256")
        key = self._keys.get(access)
        if key is None:
            return Refusal("APIGW.0301", PREFIX + "Get secretKey failed,ak:****,err:ak not exist")
        with self._lock:
            if self._locked_until.get(access, float("-inf")) > now:
                self.signature_failures += 1
                return Refusal("APIGW.0301", AK_LOCKED, signature=True)
        problem = self._signature_problem(key, method, path, query, headers, body, signed, now)
        problem = problem or (
            None
            if auth.verify_signature(key.sk, method, path, query, headers, body, signed, signature)
            else "verify aksk signature fail"
        )
        return self._count(access, problem, now)

    @staticmethod
    def _signature_problem(
        key: auth.AkSkCredentials,
        method: str,
        path: str,
        query: str,
        headers: Mapping[str, str],
        body: bytes,
        signed: str,
        now: float,
    ) -> str | None:
        sdk_date = headers.get("x-sdk-date")
        try:
            signed_at = auth.parse_sdk_date(sdk_date or "")
        except ValueError:
            return "X-Sdk-Date is missing or malformed"
        if abs(signed_at.timestamp() - now) > MAX_DATE_SKEW:
            return "verify aksk signature fail: X-Sdk-Date is more than 15 minutes off"
        if "x-sdk-date" not in signed.split(";"):
            return "X-Sdk-Date is not signed"
        if key.security_token is not None and headers.get("x-security-token") != key.security_token:
            return "the security token is missing or invalid"
        return None

    def _count(self, access: str, problem: str | None, now: float) -> Refusal | None:
        """Count a known AK's signature in the lock's tally; the 6th failure in a row locks it."""
        with self._lock:
            if problem is None:
                self._failures.pop(access, None)
                return None
            self.signature_failures += 1
            count, last = self._failures.get(access, (0, now))
            count = count + 1 if now - last <= AK_LOCK_WINDOW else 1
            self._failures[access] = (count, now)
            if count > AK_LOCK_FAILURES:
                self._locked_until[access] = now + AK_LOCK_SECONDS
                self._failures.pop(access, None)
                return Refusal("APIGW.0301", AK_LOCKED, signature=True)
        return Refusal("APIGW.0301", PREFIX + problem, signature=True)

    def locked(self, access_key: str, now: float) -> bool:
        """True while `access_key` is locked after too many failed signatures."""
        with self._lock:
            return self._locked_until.get(access_key, float("-inf")) > now
