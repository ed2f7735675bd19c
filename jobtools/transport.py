"""A lean HTTP/1.1 keep-alive transport, and the sessions the jobs client sends through.

httpx's default transport (httpcore on anyio, h11) spends about 1 ms of CPU per request
here, and httpx's URL and model objects another 0.3 ms, which caps one event loop near
600 small requests/s. `KeepAliveTransport` does the same GET on plain asyncio streams;
`FastSession` writes the client's simple GETs straight onto it (about 0.2 ms per request
all told, signing included). `HttpxSession` goes through `httpx.AsyncClient` instead, for
an injected transport (MockTransport in tests, the simulator's in-process one) or when a
proxy applies; both answer `(status, headers, body)` and raise httpx's exceptions.

The transport does HTTP and HTTPS (certificate checks on unless `verify=False`),
keep-alive with a pool of idle connections per origin, Content-Length, chunked and
read-to-close bodies, connect/read/write timeouts, and one transparent retry on a fresh
connection when a reused idle one turns out to have been closed by the server. It also
plugs in under `httpx.AsyncClient` as an ordinary `AsyncBaseTransport`. Proxies and
HTTP/2 are left to httpx.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import zlib
from collections.abc import Mapping
from typing import Any, NamedTuple

import httpx

_MAX_HEADER_BYTES = 256 * 1024
_NO_BODY_STATUSES = frozenset({204, 304})


def ssl_context(verify: Any) -> ssl.SSLContext:
    """An SSL context from httpx-style `verify`: True, False, a CA bundle path or a context."""
    if isinstance(verify, ssl.SSLContext):
        return verify
    if verify is False:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    if isinstance(verify, str):
        return ssl.create_default_context(cafile=verify)
    try:
        import certifi  # httpx's own default CA bundle

        return ssl.create_default_context(cafile=certifi.where())
    except ImportError:  # pragma: no cover - certifi comes with httpx
        return ssl.create_default_context()


class RawResponse(NamedTuple):
    """A whole answer: status, reason, HTTP version, raw header pairs and body bytes."""

    status: int
    reason: bytes
    version: bytes
    headers: list[tuple[bytes, bytes]]
    body: bytes


class _Connection:
    """One TCP (or TLS) connection and its streams."""

    __slots__ = ("reader", "writer", "reused")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.reused = False

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()


class _StaleConnection(Exception):
    """A reused connection failed before any byte of the answer: safe to try a fresh one."""


class KeepAliveTransport(httpx.AsyncBaseTransport):
    """HTTP/1.1 over asyncio streams, keeping up to `max_connections` connections per origin.

    Use one per event loop (an `httpx.AsyncClient` owns it and closes it).
    """

    def __init__(self, *, verify: Any = True, max_connections: int = 16) -> None:
        self._verify = verify
        self._ssl: ssl.SSLContext | None = None
        self._max = max_connections
        self._idle: dict[tuple[str, str, int], list[_Connection]] = {}
        self._open: set[_Connection] = set()
        self._slots: asyncio.Semaphore | None = None
        self._closed = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if url.scheme not in ("http", "https"):
            raise httpx.UnsupportedProtocol(f"unsupported scheme {url.scheme!r}", request=request)
        payload = _encode_request(request, await request.aread())
        origin = (url.scheme, url.host, url.port or (443 if url.scheme == "https" else 80))
        try:
            raw = await self.send_raw(
                origin,
                payload,
                request.extensions.get("timeout", {}),
                head=request.method == "HEAD",
            )
        except httpx.RequestError as exc:
            exc.request = request
            raise
        return httpx.Response(
            raw.status,
            headers=raw.headers,
            stream=httpx.ByteStream(raw.body),
            extensions={"http_version": raw.version, "reason_phrase": raw.reason},
            request=request,
        )

    async def send_raw(
        self,
        origin: tuple[str, str, int],
        payload: bytes,
        timeouts: Mapping[str, float | None],
        *,
        head: bool = False,
    ) -> RawResponse:
        """Send an encoded request to `(scheme, host, port)` and read the whole answer.

        The fast path for callers that build the request bytes themselves (the jobs client);
        `handle_async_request` wraps it for httpx. Raises httpx's transport exceptions.
        """
        if self._slots is None:
            self._slots = asyncio.Semaphore(self._max)
        async with self._slots:
            connection = self._take_idle(origin)
            if connection is not None:
                try:
                    return await self._exchange(connection, origin, payload, timeouts, head)
                except _StaleConnection:
                    pass  # the server closed it while idle: one fresh connection, below
            connection = await self._connect(origin, timeouts.get("connect"))
            try:
                return await self._exchange(connection, origin, payload, timeouts, head)
            except _StaleConnection as exc:
                raise httpx.RemoteProtocolError(
                    "server closed the connection without answering"
                ) from exc.__cause__

    def _take_idle(self, origin: tuple[str, str, int]) -> _Connection | None:
        idle = self._idle.get(origin)
        while idle:
            connection = idle.pop()
            if connection.reader.at_eof() or connection.writer.is_closing():
                self._discard(connection)
                continue
            connection.reused = True
            return connection
        return None

    async def _connect(self, origin: tuple[str, str, int], timeout: float | None) -> _Connection:
        scheme, host, port = origin
        context = None
        if scheme == "https":
            if self._ssl is None:
                self._ssl = ssl_context(self._verify)
            context = self._ssl
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(
                    host, port, ssl=context, limit=_MAX_HEADER_BYTES
                )
        except TimeoutError as exc:
            raise httpx.ConnectTimeout(f"connecting to {host}:{port} timed out") from exc
        except (OSError, ssl.SSLError) as exc:
            raise httpx.ConnectError(f"{type(exc).__name__}: {exc}") from exc
        connection = _Connection(reader, writer)
        self._open.add(connection)
        return connection

    async def _exchange(
        self,
        connection: _Connection,
        origin: tuple[str, str, int],
        payload: bytes,
        timeouts: Mapping[str, float | None],
        head: bool,
    ) -> RawResponse:
        got_bytes = False
        try:
            try:
                connection.writer.write(payload)
                async with asyncio.timeout(timeouts.get("write")):
                    await connection.writer.drain()
            except TimeoutError:
                raise httpx.WriteTimeout("sending the request timed out") from None
            except OSError as exc:
                if connection.reused:
                    raise _StaleConnection from exc
                raise httpx.WriteError(f"{type(exc).__name__}: {exc}") from exc
            try:
                async with asyncio.timeout(timeouts.get("read")):
                    status, reason, version, headers = await _read_head(connection.reader)
                    got_bytes = True
                    body, keep = await _read_body(connection.reader, head, status, headers)
            except TimeoutError:
                raise httpx.ReadTimeout("reading the answer timed out") from None
            except asyncio.IncompleteReadError as exc:
                if connection.reused and not got_bytes and not exc.partial:
                    raise _StaleConnection from exc
                raise httpx.RemoteProtocolError(
                    "connection closed before the answer was complete"
                ) from exc
            except asyncio.LimitOverrunError as exc:
                raise httpx.RemoteProtocolError("answer headers too large") from exc
            except (OSError, ssl.SSLError) as exc:
                if connection.reused and not got_bytes:
                    raise _StaleConnection from exc
                raise httpx.ReadError(f"{type(exc).__name__}: {exc}") from exc
        except BaseException:
            # Whatever went wrong (cancellation included), this connection is in an unknown
            # state: never give it to another request.
            self._discard(connection)
            raise
        if keep and version == b"HTTP/1.1" and not self._closed:
            self._idle.setdefault(origin, []).append(connection)
        else:
            self._discard(connection)
        return RawResponse(status, reason, version, headers, body)

    def _discard(self, connection: _Connection) -> None:
        self._open.discard(connection)
        connection.close()

    async def aclose(self) -> None:
        self._closed = True
        self._idle.clear()
        connections, self._open = list(self._open), set()
        for connection in connections:
            connection.close()
        for connection in connections:
            with contextlib.suppress(Exception):
                await connection.writer.wait_closed()


def _encode_request(request: httpx.Request, body: bytes) -> bytes:
    url = request.url
    target = url.raw_path  # path and query, already percent-encoded by httpx
    lines = [request.method.encode("ascii") + b" " + target + b" HTTP/1.1"]
    has_length = False
    for name, value in request.headers.raw:
        lowered = name.lower()
        if lowered == b"content-length":
            has_length = True
        elif lowered == b"transfer-encoding":
            continue  # the body is sent whole, with a Content-Length
        lines.append(name + b": " + value)
    if body and not has_length:
        lines.append(b"Content-Length: " + str(len(body)).encode("ascii"))
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


async def _read_head(
    reader: asyncio.StreamReader,
) -> tuple[int, bytes, bytes, list[tuple[bytes, bytes]]]:
    while True:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head[:-4].split(b"\r\n")
        parts = lines[0].split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
            raise httpx.RemoteProtocolError(f"not an HTTP status line: {lines[0][:80]!r}")
        status = int(parts[1])
        if 100 <= status < 200 and status != 101:
            continue  # informational (100 Continue): the real answer follows
        headers = []
        for line in lines[1:]:
            name, sep, value = line.partition(b":")
            if not sep:
                raise httpx.RemoteProtocolError(f"malformed header line: {line[:80]!r}")
            headers.append((name.strip(), value.strip()))
        reason = parts[2] if len(parts) > 2 else b""
        return status, reason, parts[0], headers


async def _read_body(
    reader: asyncio.StreamReader,
    head: bool,
    status: int,
    headers: list[tuple[bytes, bytes]],
) -> tuple[bytes, bool]:
    """The body, and whether the connection can carry another request."""
    length = None
    chunked = False
    keep = True
    for name, value in headers:
        lowered = name.lower()
        if lowered == b"content-length":
            if not value.isdigit():
                raise httpx.RemoteProtocolError(f"bad Content-Length {value[:40]!r}")
            length = int(value)
        elif lowered == b"transfer-encoding":
            chunked = value.lower().endswith(b"chunked")
        elif lowered == b"connection":
            keep = b"close" not in value.lower()
    if head or status in _NO_BODY_STATUSES:
        return b"", keep
    if chunked:
        return await _read_chunked(reader), keep
    if length is not None:
        return await reader.readexactly(length), keep
    # No length: the body runs to the end of the connection, which cannot be reused.
    return await reader.read(), False


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    while True:
        line = await reader.readuntil(b"\r\n")
        size_text = line.split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise httpx.RemoteProtocolError(f"bad chunk size {size_text[:20]!r}") from None
        if size == 0:
            while (await reader.readuntil(b"\r\n")) != b"\r\n":
                pass  # trailers, ignored
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)


# --- sessions: what the jobs client needs, over either transport --------------------------


class Session:
    """GETs relative to one endpoint, answered as `(status, headers, body)`.

    Headers come back as a mapping whose lower-case names always work. Failures are
    httpx's transport exceptions, whichever transport is underneath.
    """

    async def get(
        self, path: str, headers: Mapping[str, str]
    ) -> tuple[int, Mapping[str, str], bytes]:
        raise NotImplementedError

    async def aclose(self) -> None:
        raise NotImplementedError


class HttpxSession(Session):
    """Through an `httpx.AsyncClient` (any transport: MockTransport, proxies, httpx's own)."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def get(
        self, path: str, headers: Mapping[str, str]
    ) -> tuple[int, Mapping[str, str], bytes]:
        response = await self.client.get(path, headers=headers)
        return response.status_code, response.headers, response.content

    async def aclose(self) -> None:
        await self.client.aclose()


class FastSession(Session):
    """Straight onto a `KeepAliveTransport`: no httpx Request/Response/URL objects per call.

    httpx's URL parsing and models cost more CPU per request than the whole exchange on
    the socket; the jobs client's requests are simple enough to write out directly.
    """

    def __init__(self, transport: KeepAliveTransport, endpoint: str, timeout: httpx.Timeout):
        url = httpx.URL(endpoint)
        self.transport = transport
        self._origin = (url.scheme, url.host, url.port or (443 if url.scheme == "https" else 80))
        self._prefix = url.raw_path.rstrip(b"/")
        self._timeouts = timeout.as_dict()

    async def get(
        self, path: str, headers: Mapping[str, str]
    ) -> tuple[int, Mapping[str, str], bytes]:
        lines = [b"GET " + self._prefix + path.encode("ascii") + b" HTTP/1.1"]
        for name, value in headers.items():
            if "\r" in value or "\n" in value:
                raise httpx.LocalProtocolError(f"header {name} holds a line break")
            lines.append(f"{name}: {value}".encode("latin-1"))
        payload = b"\r\n".join(lines) + b"\r\n\r\n"
        raw = await self.transport.send_raw(self._origin, payload, self._timeouts)
        names = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in raw.headers}
        body = raw.body
        encoding = names.get("content-encoding", "").lower()
        if encoding in ("gzip", "deflate"):
            # Not asked for (no Accept-Encoding is sent), but decoded if a server does it.
            try:
                body = zlib.decompress(body, 31 if encoding == "gzip" else 15)
            except zlib.error as exc:
                raise httpx.DecodingError(f"bad {encoding} body: {exc}") from None
        return raw.status, names, body

    async def aclose(self) -> None:
        await self.transport.aclose()


def open_session(
    endpoint: str,
    *,
    transport: httpx.AsyncBaseTransport | None,
    verify: Any,
    concurrency: int,
    timeout: httpx.Timeout,
    proxied: bool,
) -> Session:
    """The fast session on a new KeepAliveTransport, unless a transport is given or a proxy
    applies (then httpx, with a keep-alive pool sized to the concurrency)."""
    if transport is None and not proxied:
        return FastSession(
            KeepAliveTransport(verify=verify, max_connections=concurrency), endpoint, timeout
        )
    limits = httpx.Limits(
        max_connections=concurrency, max_keepalive_connections=concurrency, keepalive_expiry=30.0
    )
    client = httpx.AsyncClient(
        base_url=endpoint,
        timeout=timeout,
        limits=limits,
        verify=verify,
        transport=transport,
        follow_redirects=False,
    )
    return HttpxSession(client)
