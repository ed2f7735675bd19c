"""Credentials, and the gateway's `SDK-HMAC-SHA256` request signing (client and verifier side).

The signing follows the official SDK's `huaweicloudsdkcore.signer.Signer` step by step:

1. `X-Sdk-Date: YYYYMMDDTHHMMSSZ` (UTC) and `Host` are added when missing.
2. Signed headers: every header whose name has no `_`, lower-cased, sorted, `;`-joined.
3. Canonical request: method, canonical URI (each segment percent-encoded, always a
   trailing `/`), canonical query (sorted, encoded), `name:value` lines, signed headers,
   hex SHA-256 of the body.
4. String to sign: `SDK-HMAC-SHA256\\n{date}\\n{hex sha256(canonical request)}`.
5. Signature: hex HMAC-SHA256 of it, keyed with the secret key itself.

The simulator verifies with the same functions, so the two sides cannot drift apart.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import hmac
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from jobtools.errors import CredentialsError

__all__ = [
    "ALGORITHM",
    "AkSkCredentials",
    "Credentials",
    "EMPTY_BODY_SHA256",
    "ENV_AK",
    "ENV_PROJECT_ID",
    "ENV_SECURITY_TOKEN",
    "ENV_SK",
    "ENV_TOKEN",
    "HEADER_DATE",
    "HEADER_SECURITY_TOKEN",
    "HEADER_TOKEN",
    "Headers",
    "Query",
    "SDK_DATE_FORMAT",
    "TokenCredentials",
    "canonical_query",
    "canonical_request",
    "canonical_uri",
    "compute_signature",
    "format_sdk_date",
    "parse_authorization",
    "parse_sdk_date",
    "sign",
    "signed_header_names",
    "string_to_sign",
    "verify_signature",
]

ALGORITHM = "SDK-HMAC-SHA256"
SDK_DATE_FORMAT = "%Y%m%dT%H%M%SZ"
HEADER_DATE = "X-Sdk-Date"
HEADER_SECURITY_TOKEN = "X-Security-Token"
HEADER_TOKEN = "X-Auth-Token"
EMPTY_BODY_SHA256 = hashlib.sha256(b"").hexdigest()

ENV_AK = "HUAWEICLOUD_SDK_AK"
ENV_SK = "HUAWEICLOUD_SDK_SK"
ENV_PROJECT_ID = "HUAWEICLOUD_SDK_PROJECT_ID"
ENV_SECURITY_TOKEN = "HUAWEICLOUD_SDK_SECURITY_TOKEN"
# Not an official SDK variable: the SDK has no token mode. Ours, for `X-Auth-Token` users.
ENV_TOKEN = "JOBTOOLS_AUTH_TOKEN"

Query = Mapping[str, object] | Sequence[tuple[str, object]] | str | None
Headers = Mapping[str, str] | Iterable[tuple[str, str]]


def _mask(value: str | None) -> str | None:
    # Enough to tell two keys apart in a notebook, never enough to use one.
    if value is None:
        return None
    return "****" if len(value) < 12 else f"{value[:4]}****"


def _check_secret(value: str | None, name: str) -> None:
    # Sent as header values: a line break would let a value inject headers. Never echo it.
    if value is None:
        return
    if not value.strip():
        raise CredentialsError(f"{name} is empty")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value) or not value.isascii():
        raise CredentialsError(f"{name} holds control or non-ASCII characters")


class Credentials:
    """Base of the two ways to authenticate; build one directly or with `from_env()`."""

    project_id: str | None

    def auth_headers(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None = None,
        body: bytes | str = b"",
        *,
        now: dt.datetime | None = None,
    ) -> dict[str, str]:
        """Return `headers` plus what authenticates the request (a new dict)."""
        raise NotImplementedError

    @staticmethod
    def from_env(environ: Mapping[str, str] | None = None) -> Credentials:
        """Read the official SDK's variables (AK/SK, security token, project id).

        Falls back to a token in `JOBTOOLS_AUTH_TOKEN` when no AK/SK is set.

        Raises:
            CredentialsError: (a ValueError) when neither is set; names variables, never values.
        """
        env = os.environ if environ is None else environ
        ak, sk = env.get(ENV_AK, "").strip(), env.get(ENV_SK, "").strip()
        project_id = env.get(ENV_PROJECT_ID, "").strip() or None
        if ak and sk:
            return AkSkCredentials(
                ak=ak,
                sk=sk,
                security_token=env.get(ENV_SECURITY_TOKEN, "").strip() or None,
                project_id=project_id,
            )
        if ak or sk:
            missing = ENV_SK if ak else ENV_AK
            raise CredentialsError(f"{missing} is not set (both {ENV_AK} and {ENV_SK} are needed)")
        token = env.get(ENV_TOKEN, "").strip()
        if token:
            return TokenCredentials(token=token, project_id=project_id)
        raise CredentialsError(f"no credentials: set {ENV_AK} and {ENV_SK}, or {ENV_TOKEN}")


@dataclasses.dataclass(frozen=True, repr=False)
class TokenCredentials(Credentials):
    """An IAM token sent as `X-Auth-Token` (valid 24 hours)."""

    token: str
    project_id: str | None = None

    def __post_init__(self) -> None:
        _check_secret(self.token or "", "token")

    def __repr__(self) -> str:
        return f"TokenCredentials(token='****', project_id={self.project_id!r})"

    def auth_headers(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None = None,
        body: bytes | str = b"",
        *,
        now: dt.datetime | None = None,
    ) -> dict[str, str]:
        """Return `headers` plus `X-Auth-Token`."""
        return {**(headers or {}), HEADER_TOKEN: self.token}


@dataclasses.dataclass(frozen=True, repr=False)
class AkSkCredentials(Credentials):
    """An access key and secret key (plus a temporary credential's security token)."""

    ak: str
    sk: str
    security_token: str | None = None
    project_id: str | None = None

    def __post_init__(self) -> None:
        _check_secret(self.ak or "", "ak")
        _check_secret(self.sk or "", "sk")
        _check_secret(self.security_token, "security_token")

    def __repr__(self) -> str:
        token = None if self.security_token is None else "****"
        return (
            f"AkSkCredentials(ak={_mask(self.ak)!r}, sk='****', "
            f"security_token={token!r}, project_id={self.project_id!r})"
        )

    def auth_headers(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None = None,
        body: bytes | str = b"",
        *,
        now: dt.datetime | None = None,
    ) -> dict[str, str]:
        """Return `headers` plus `Host`, `X-Sdk-Date`, `Authorization` (and the security token)."""
        return sign(
            method,
            url,
            ak=self.ak,
            sk=self.sk,
            headers=headers,
            body=body,
            security_token=self.security_token,
            now=now,
        )


# --- the signing steps ------------------------------------------------------------------


def _encode(value: str) -> str:
    return quote(value, safe="~")


def _header_items(headers: Headers) -> list[tuple[str, str]]:
    items = headers.items() if isinstance(headers, Mapping) else headers
    return [(str(k), str(v)) for k, v in items]


def canonical_uri(path: str) -> str:
    """Percent-encode each segment of `path` and end it with `/`.

    >>> canonical_uri("/v1/p 1/jobs/abc")
    '/v1/p%201/jobs/abc/'
    """
    uri = "/".join(_encode(segment) for segment in unquote(path).split("/"))
    return uri if uri.endswith("/") else uri + "/"


def canonical_query(query: Query) -> str:
    """Sort the parameters by key (then value) and percent-encode both.

    >>> canonical_query("size=1&marker=a b")
    'marker=a%20b&size=1'
    """
    if not query:
        return ""
    if isinstance(query, str):
        pairs: list[tuple[str, str]] = parse_qsl(query, keep_blank_values=True)
    else:
        items = query.items() if isinstance(query, Mapping) else query
        pairs = []
        for key, value in items:
            values = value if isinstance(value, list | tuple) else [value]
            for v in values:
                text = str(v).lower() if isinstance(v, bool) else str(v)
                pairs.append((str(key), text))
    return "&".join(f"{_encode(k)}={_encode(v)}" for k, v in sorted(pairs))


def signed_header_names(headers: Headers) -> list[str]:
    """The lower-cased, sorted names of every header without `_` in its name."""
    return sorted({name.lower() for name, _ in _header_items(headers) if "_" not in name})


def canonical_request(
    method: str,
    path: str,
    query: Query,
    headers: Headers,
    signed_headers: Sequence[str] | str,
    body: bytes | str = b"",
) -> str:
    """The canonical request the signature is computed over."""
    names = signed_headers.split(";") if isinstance(signed_headers, str) else list(signed_headers)
    values = {name.lower(): value.strip() for name, value in _header_items(headers)}
    missing = [name for name in names if name not in values]
    if missing:
        raise ValueError(f"signed headers missing from the request: {', '.join(missing)}")
    lines = "".join(f"{name}:{values[name]}\n" for name in names)
    raw = body.encode() if isinstance(body, str) else body
    body_hash = hashlib.sha256(raw).hexdigest() if raw else EMPTY_BODY_SHA256
    return "\n".join(
        [
            method.upper(),
            canonical_uri(path),
            canonical_query(query),
            lines,
            ";".join(names),
            body_hash,
        ]
    )


def string_to_sign(sdk_date: str, canonical: str) -> str:
    """`SDK-HMAC-SHA256`, the date, and the hex SHA-256 of the canonical request."""
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    return f"{ALGORITHM}\n{sdk_date}\n{digest}"


def compute_signature(
    sk: str,
    method: str,
    path: str,
    query: Query,
    headers: Headers,
    body: bytes | str,
    sdk_date: str,
    *,
    signed_headers: Sequence[str] | str | None = None,
) -> tuple[str, str]:
    """Return `(signed headers joined by ';', hex signature)`.

    `headers` must hold `Host`; `X-Sdk-Date` is taken as `sdk_date` when absent. A verifier
    passes the `SignedHeaders` it received as `signed_headers`, since HTTP libraries add
    headers (Accept, Content-Length…) after the client signed.
    """
    items = _header_items(headers)
    if not any(name.lower() == HEADER_DATE.lower() for name, _ in items):
        items.append((HEADER_DATE, sdk_date))
    if signed_headers is None:
        names = signed_header_names(items)
    elif isinstance(signed_headers, str):
        names = signed_headers.split(";")
    else:
        names = list(signed_headers)
    canonical = canonical_request(method, path, query, items, names, body)
    key = sk.encode()
    signature = hmac.new(key, string_to_sign(sdk_date, canonical).encode(), "sha256").hexdigest()
    return ";".join(names), signature


def format_sdk_date(now: dt.datetime | None = None) -> str:
    """`YYYYMMDDTHHMMSSZ` in UTC for `now` (default: the current time)."""
    moment = now or dt.datetime.now(dt.UTC)
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC)
    return moment.strftime(SDK_DATE_FORMAT)


def parse_sdk_date(value: str) -> dt.datetime:
    """Parse an `X-Sdk-Date` value into an aware UTC datetime (ValueError when malformed)."""
    return dt.datetime.strptime(value, SDK_DATE_FORMAT).replace(tzinfo=dt.UTC)


def sign(
    method: str,
    url: str,
    *,
    ak: str,
    sk: str,
    headers: Mapping[str, str] | None = None,
    body: bytes | str = b"",
    security_token: str | None = None,
    sdk_date: str | None = None,
    now: dt.datetime | None = None,
) -> dict[str, str]:
    """Return the headers to send: `headers` plus Host, X-Sdk-Date, the token and Authorization.

    Host is returned too, so what was signed is exactly what is sent.
    """
    parts = urlsplit(url)
    out = dict(headers or {})
    lower = {name.lower() for name in out}
    if "host" not in lower:
        out["Host"] = parts.netloc
    if HEADER_DATE.lower() in lower:
        sdk_date = next(v for k, v in out.items() if k.lower() == HEADER_DATE.lower())
    else:
        sdk_date = sdk_date or format_sdk_date(now)
        out[HEADER_DATE] = sdk_date
    if security_token:
        out[HEADER_SECURITY_TOKEN] = security_token
    names, signature = compute_signature(
        sk, method, parts.path or "/", parts.query, out, body, sdk_date
    )
    out["Authorization"] = f"{ALGORITHM} Access={ak}, SignedHeaders={names}, Signature={signature}"
    return out


_AUTHORIZATION = re.compile(
    rf"^{ALGORITHM}\s+Access=([^,\s]+),\s*SignedHeaders=([^,\s]+),\s*Signature=([0-9a-fA-F]+)\s*$"
)


def parse_authorization(header: str) -> tuple[str, str, str]:
    """Split an `Authorization` value into `(access key, signed headers, signature)`.

    >>> parse_authorization("SDK-HMAC-SHA256 Access=AK, SignedHeaders=host, Signature=ab")
    ('AK', 'host', 'ab')

    Raises:
        ValueError: when the value is not an `SDK-HMAC-SHA256` authorization.
    """
    match = _AUTHORIZATION.match(header.strip()) if header else None
    if match is None:
        raise ValueError("Authorization is not SDK-HMAC-SHA256 Access=…, SignedHeaders=…, …")
    access, signed, signature = match.groups()
    return access, signed, signature.lower()


def verify_signature(
    sk: str,
    method: str,
    path: str,
    query: Query,
    headers: Mapping[str, str],
    body: bytes | str,
    signed_headers: str,
    signature: str,
) -> bool:
    """True when `signature` matches the request as received (constant-time comparison).

    `headers` are the received headers; the date is read from their `X-Sdk-Date`.
    """
    values = {name.lower(): value for name, value in headers.items()}
    sdk_date = values.get(HEADER_DATE.lower())
    if sdk_date is None:
        return False
    names = signed_headers.split(";")
    chosen = [(name, values[name]) for name in names if name in values]
    if len(chosen) != len(names):
        return False
    _, expected = compute_signature(
        sk, method, path, query, chosen, body, sdk_date, signed_headers=names
    )
    return hmac.compare_digest(expected, signature.lower())
