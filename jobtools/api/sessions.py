"""The HTTP sessions the jobs client sends its GETs through.

`AiohttpSession` is the network path: an `aiohttp.ClientSession` on a keep-alive pool sized
to the client's concurrency. httpx (the given default) spends ~1.5 ms of CPU per request
here, which caps one event loop below what the fetch benchmark asks for; through aiohttp a
whole fetch (signing and parsing included) costs ~0.15 ms. `HttpxSession` goes through
`httpx.AsyncClient` for an injected transport (`httpx.MockTransport` in unit tests, the
simulator's in-process one).

Both answer `(status, headers, body)`, headers readable by lower-case name, and let their
library's exceptions through: the client maps them to its own errors in one place.
"""

from __future__ import annotations

import os
import ssl
import urllib.request
from collections.abc import Mapping
from typing import Any, Protocol

import aiohttp
import certifi
import httpx
import yarl

__all__ = [
    "AiohttpSession",
    "Answer",
    "HttpxSession",
    "Session",
    "client_timeout",
    "env_proxy",
    "open_session",
    "ssl_context",
]

Answer = tuple[int, Mapping[str, str], bytes]


class Session(Protocol):
    """GETs relative to one endpoint."""

    async def get(self, path: str, headers: Mapping[str, str]) -> Answer: ...

    async def aclose(self) -> None: ...


class HttpxSession:
    """Through an `httpx.AsyncClient` on an injected transport."""

    def __init__(
        self, endpoint: str, transport: httpx.AsyncBaseTransport, timeout: httpx.Timeout
    ) -> None:
        self._client = httpx.AsyncClient(
            base_url=endpoint, transport=transport, timeout=timeout, follow_redirects=False
        )

    async def get(self, path: str, headers: Mapping[str, str]) -> Answer:
        response = await self._client.get(path, headers=headers)
        return response.status_code, response.headers, response.content

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
        self._endpoint = endpoint
        self._proxy = env_proxy(endpoint)
        connector = aiohttp.TCPConnector(limit=concurrency, ssl=ssl_context(verify))
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=client_timeout(timeout),
            skip_auto_headers=("Accept-Encoding",),
            cookie_jar=aiohttp.DummyCookieJar(),
        )

    async def get(self, path: str, headers: Mapping[str, str]) -> Answer:
        url = yarl.URL(self._endpoint + path, encoded=True)
        async with self._session.get(
            url, headers=headers, allow_redirects=False, proxy=self._proxy
        ) as response:
            return response.status, response.headers, await response.read()

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
    """An SSL context from httpx-style `verify`: True, False, a CA bundle path or a context."""
    if isinstance(verify, ssl.SSLContext):
        return verify
    if verify is False:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    if isinstance(verify, str | os.PathLike):
        return ssl.create_default_context(cafile=os.fspath(verify))
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
