"""The HTTP sessions the jobs client sends its GETs through.

`AiohttpSession` is the network path: an `aiohttp.ClientSession` on a keep-alive pool sized
to the client's concurrency. httpx (the given default) spends ~1.5 ms of CPU per request
here, which caps one event loop below what the fetch benchmark asks for; through aiohttp a
whole fetch (signing and parsing included) costs ~0.15 ms. `HttpxSession` goes through
`httpx.AsyncClient` for an injected transport (`httpx.MockTransport` in unit tests, the
simulator's in-process one).

Both answer `(status, headers, body)`, headers readable by lower-case name, and let their
library's exceptions through: the client maps them to its own errors in one place.

Bodies are read raw and decoded here (`BodyReader`), so one cap bounds both what crosses the
wire and what it inflates to: a 1 GB body, an endless one or a 200 KB gzip bomb costs at
most `max_bytes` of memory, then `BodyTooLarge` (and the connection is dropped).
"""

from __future__ import annotations

import os
import ssl
import urllib.request
import zlib
from collections.abc import Mapping
from typing import Any, Protocol

import aiohttp
import certifi
import httpx
import yarl

from jobtools.errors import BodyTooLarge, UndecodableBody

__all__ = [
    "AiohttpSession",
    "Answer",
    "BodyReader",
    "BodyTooLarge",
    "HttpxSession",
    "Session",
    "UndecodableBody",
    "client_timeout",
    "env_proxy",
    "open_session",
    "ssl_context",
]

Answer = tuple[int, Mapping[str, str], bytes]


class BodyReader:
    """Collects a body's raw chunks, decodes them (gzip, deflate) and caps both sizes."""

    def __init__(self, status: int, headers: Mapping[str, str], limit: int) -> None:
        self.status = status
        self.limit = limit
        self._raw = 0
        self._parts: list[bytes] = []
        self._size = 0
        encoding = (headers.get("content-encoding") or "identity").strip().lower()
        if encoding in ("identity", ""):
            self._inflate: Any = None
        elif encoding in ("gzip", "x-gzip"):
            self._inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            self._inflate = zlib.decompressobj(32 + zlib.MAX_WBITS)  # zlib or gzip header
        else:
            raise UndecodableBody(status, f"unsupported Content-Encoding {encoding[:40]!r}")
        length = headers.get("content-length")
        if length is not None and length.strip().isdigit() and int(length) > limit:
            raise BodyTooLarge(status, limit, compressed=self._inflate is not None)

    def feed(self, chunk: bytes) -> None:
        """Take the next raw chunk; raise BodyTooLarge as soon as either size is over."""
        self._raw += len(chunk)
        if self._raw > self.limit:
            raise BodyTooLarge(self.status, self.limit, compressed=self._inflate is not None)
        if self._inflate is None:
            self._keep(chunk)
            return
        try:
            # Never inflate more than the room left (+1 to notice going over).
            data = self._inflate.decompress(chunk, self.limit - self._size + 1)
        except zlib.error as exc:
            raise UndecodableBody(self.status, str(exc)) from None
        self._keep(data)
        if self._inflate.unconsumed_tail:
            raise BodyTooLarge(self.status, self.limit, compressed=False)

    def _keep(self, data: bytes) -> None:
        self._size += len(data)
        if self._size > self.limit:
            raise BodyTooLarge(self.status, self.limit, compressed=False)
        if data:
            self._parts.append(data)

    def body(self) -> bytes:
        """The whole decoded body (after the last chunk)."""
        if self._inflate is not None and self._raw and not self._inflate.eof:
            raise UndecodableBody(self.status, "compressed data cut short")
        return b"".join(self._parts)


class Session(Protocol):
    """GETs of absolute URLs (on the client's endpoints), bodies capped at `max_bytes`."""

    async def get(self, url: str, headers: Mapping[str, str], max_bytes: int) -> Answer: ...

    async def aclose(self) -> None: ...


class HttpxSession:
    """Through an `httpx.AsyncClient` on an injected transport."""

    def __init__(
        self, endpoint: str, transport: httpx.AsyncBaseTransport, timeout: httpx.Timeout
    ) -> None:
        self._client = httpx.AsyncClient(
            base_url=endpoint, transport=transport, timeout=timeout, follow_redirects=False
        )

    async def get(self, url: str, headers: Mapping[str, str], max_bytes: int) -> Answer:
        request = self._client.build_request("GET", url, headers=headers)
        response = await self._client.send(request, stream=True)
        try:
            if response.is_stream_consumed:
                # `httpx.MockTransport` hands over a body it read (and decoded) itself.
                reader = BodyReader(response.status_code, {}, max_bytes)
                reader.feed(response.content)
            else:
                reader = BodyReader(response.status_code, response.headers, max_bytes)
                async for chunk in response.aiter_raw():
                    reader.feed(chunk)
            return response.status_code, response.headers, reader.body()
        finally:
            await response.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()


class AiohttpSession:
    """Through an `aiohttp.ClientSession` keeping up to `concurrency` connections alive.

    The request goes out with exactly the headers given (the signed ones): the caller sends
    Host, Accept and User-Agent itself, aiohttp adds no Accept-Encoding, keeps no cookies,
    and the path is sent as given (`encoded=True`: no re-quoting).

    The environment's proxy is looked up once, here. aiohttp's `trust_env=True` would look
    it up, and read `~/.netrc`, on a worker thread for every request (3.5x the CPU per
    request, measured), and would send a netrc login for the API host as Basic auth.
    """

    def __init__(
        self, endpoint: str, *, verify: Any, concurrency: int, timeout: httpx.Timeout
    ) -> None:
        # The environment's proxy for each origin, looked up once (there may be several
        # endpoints, tried in turn).
        self._proxies: dict[str, str | None] = {}
        connector = aiohttp.TCPConnector(limit=concurrency, ssl=ssl_context(verify))
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=client_timeout(timeout),
            skip_auto_headers=("Accept-Encoding",),
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=False,  # BodyReader decodes, within the size cap
        )

    def _proxy(self, url: yarl.URL) -> str | None:
        origin = str(url.origin())
        if origin not in self._proxies:
            self._proxies[origin] = env_proxy(origin)
        return self._proxies[origin]

    async def get(self, url: str, headers: Mapping[str, str], max_bytes: int) -> Answer:
        target = yarl.URL(url, encoded=True)
        async with self._session.get(
            target, headers=headers, allow_redirects=False, proxy=self._proxy(target)
        ) as response:
            reader = BodyReader(response.status, response.headers, max_bytes)
            try:
                async for chunk in response.content.iter_any():
                    reader.feed(chunk)
            except (BodyTooLarge, UndecodableBody):
                response.close()  # the rest of the body is not read: drop the connection
                raise
            return response.status, response.headers, reader.body()

    async def aclose(self) -> None:
        await self._session.close()


def env_proxy(endpoint: str) -> str | None:
    """The proxy URL the environment sets for `endpoint`, if any.

    The standard library's lookup, as aiohttp's `trust_env` does it (`HTTP_PROXY`,
    `HTTPS_PROXY`, `NO_PROXY`), plus `ALL_PROXY` as httpx and curl honour it.
    """
    url = yarl.URL(endpoint)
    if not url.host or urllib.request.proxy_bypass(url.host):
        return None
    proxies = urllib.request.getproxies()
    return proxies.get(url.scheme) or proxies.get("all")


def client_timeout(timeout: httpx.Timeout) -> aiohttp.ClientTimeout:
    """aiohttp's timeouts for httpx-style ones: no total, a connect and a per-read limit.

    aiohttp's `connect` covers the wait for a free pooled connection plus making one (httpx's
    pool timeout); `sock_connect` the connecting itself. A GET has no body to time writing.
    """
    return aiohttp.ClientTimeout(
        total=None, connect=timeout.pool, sock_connect=timeout.connect, sock_read=timeout.read
    )


def ssl_context(verify: Any) -> ssl.SSLContext:
    """An SSL context from httpx-style `verify`: True, False, a CA bundle path or a context.

    True reads `SSL_CERT_FILE` (a bundle) and `SSL_CERT_DIR` (a hashed folder) when they name
    what exists, as httpx and requests do; else certifi's roots.
    """
    if isinstance(verify, ssl.SSLContext):
        return verify
    if verify is False:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    if isinstance(verify, str | os.PathLike):
        return ssl.create_default_context(cafile=os.fspath(verify))
    # A corporate CA set in the environment, as httpx and requests read it.
    cafile = os.environ.get("SSL_CERT_FILE") or None
    capath = os.environ.get("SSL_CERT_DIR") or None
    if cafile and os.path.isfile(cafile) or capath and os.path.isdir(capath):
        return ssl.create_default_context(
            cafile=cafile if cafile and os.path.isfile(cafile) else None,
            capath=capath if capath and os.path.isdir(capath) else None,
        )
    # httpx's default CA bundle (certifi comes with httpx): the same roots on every OS.
    return ssl.create_default_context(cafile=certifi.where())


def open_session(
    endpoint: str,
    *,
    transport: httpx.AsyncBaseTransport | None,
    verify: Any,
    concurrency: int,
    timeout: httpx.Timeout,
) -> Session:
    """aiohttp over the network, or httpx on the given transport."""
    if transport is not None:
        return HttpxSession(endpoint, transport, timeout)
    return AiohttpSession(endpoint, verify=verify, concurrency=concurrency, timeout=timeout)
