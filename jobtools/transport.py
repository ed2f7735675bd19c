"""A lean HTTP/1.1 keep-alive transport for httpx, for many small GETs on one host.

httpx's default transport (httpcore on anyio, h11) spends about 1 ms of CPU per request
here, which caps one event loop near 600 requests/s; this transport does the same GET on
plain asyncio streams in a fraction of that. It plugs in under `httpx.AsyncClient`, so
the client code, error mapping and tests stay the same (tests swap in MockTransport).

What it does: HTTP and HTTPS (certificate checks on unless `verify=False`), keep-alive
with a pool of idle connections per origin, Content-Length, chunked and read-to-close
bodies, the timeouts httpx passes in `request.extensions`, and one transparent retry on a
fresh connection when a reused idle one turns out to have been closed by the server.
What it leaves to httpx's own transport: proxies, HTTP/2 (the client switches over when a
proxy applies).

Failures are raised as httpx's own exceptions (ConnectTimeout, ReadTimeout, ConnectError,
ReadError, RemoteProtocolError), so callers handle both transports alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from typing import Any

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
        if self._slots is None:
            self._slots = asyncio.Semaphore(self._max)
        timeouts = request.extensions.get("timeout", {})
        payload = _encode_request(request, await request.aread())
        origin = (url.scheme, url.host, url.port or (443 if url.scheme == "https" else 80))
        async with self._slots:
            connection = self._take_idle(origin)
            if connection is not None:
                try:
                    return await self._exchange(connection, origin, request, payload, timeouts)
                except _StaleConnection:
                    pass  # the server closed it while idle: one fresh connection, below
            connection = await self._connect(origin, request, timeouts.get("connect"))
            try:
                return await self._exchange(connection, origin, request, payload, timeouts)
            except _StaleConnection as exc:
                raise httpx.RemoteProtocolError(
                    "server closed the connection without answering", request=request
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

    async def _connect(
        self, origin: tuple[str, str, int], request: httpx.Request, timeout: float | None
    ) -> _Connection:
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
            raise httpx.ConnectTimeout(
                f"connecting to {host}:{port} timed out", request=request
            ) from exc
        except (OSError, ssl.SSLError) as exc:
            raise httpx.ConnectError(f"{type(exc).__name__}: {exc}", request=request) from exc
        connection = _Connection(reader, writer)
        self._open.add(connection)
        return connection

    async def _exchange(
        self,
        connection: _Connection,
        origin: tuple[str, str, int],
        request: httpx.Request,
        payload: bytes,
        timeouts: dict[str, float | None],
    ) -> httpx.Response:
        got_bytes = False
        try:
            try:
                connection.writer.write(payload)
                async with asyncio.timeout(timeouts.get("write")):
                    await connection.writer.drain()
            except TimeoutError:
                raise httpx.WriteTimeout("sending the request timed out", request=request) from None
            except OSError as exc:
                if connection.reused:
                    raise _StaleConnection from exc
                raise httpx.WriteError(f"{type(exc).__name__}: {exc}", request=request) from exc
            try:
                async with asyncio.timeout(timeouts.get("read")):
                    status, reason, version, headers = await _read_head(connection.reader)
                    got_bytes = True
                    body, keep = await _read_body(connection.reader, request, status, headers)
            except TimeoutError:
                raise httpx.ReadTimeout("reading the answer timed out", request=request) from None
            except asyncio.IncompleteReadError as exc:
                if connection.reused and not got_bytes and not exc.partial:
                    raise _StaleConnection from exc
                raise httpx.RemoteProtocolError(
                    "connection closed before the answer was complete", request=request
                ) from exc
            except asyncio.LimitOverrunError as exc:
                raise httpx.RemoteProtocolError(
                    "answer headers too large", request=request
                ) from exc
            except (OSError, ssl.SSLError) as exc:
                if connection.reused and not got_bytes:
                    raise _StaleConnection from exc
                raise httpx.ReadError(f"{type(exc).__name__}: {exc}", request=request) from exc
        except BaseException:
            # Whatever went wrong (cancellation included), this connection is in an unknown
            # state: never give it to another request.
            self._discard(connection)
            raise
        if keep and version == b"HTTP/1.1" and not self._closed:
            self._idle.setdefault(origin, []).append(connection)
        else:
            self._discard(connection)
        return httpx.Response(
            status,
            headers=headers,
            stream=httpx.ByteStream(body),
            extensions={"http_version": version, "reason_phrase": reason},
            request=request,
        )

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
    request: httpx.Request,
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
    if request.method == "HEAD" or status in _NO_BODY_STATUSES:
        return b"", keep
    if chunked:
        return await _read_chunked(reader), keep
    if length is not None:
        return await reader.readexactly(length), keep
    # No length: the body runs to the end of the connection, which cannot be reused.
    return await reader.read(), False


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts = []
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
