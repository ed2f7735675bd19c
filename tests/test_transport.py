"""The lean keep-alive transport, against scripted servers on real loopback sockets."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl

import httpx
import pytest

from jobtools.transport import KeepAliveTransport, ssl_context

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Request-Id: r1\r\n\r\n{}"
HANG = "hang"  # read the request, never answer
DROP = "drop"  # read the request, close without answering


class ScriptedServer:
    """Answers each request with the next scripted reply; counts connections."""

    def __init__(self, replies: list, tls: ssl.SSLContext | None = None) -> None:
        self.replies = list(replies)
        self.tls = tls
        self.connections = 0
        self.peak = 0
        self.open = 0
        self.requests: list[bytes] = []
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task] = set()
        self._stop = asyncio.Event()

    async def __aenter__(self) -> ScriptedServer:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=self.tls)
        return self

    async def __aexit__(self, *exc_info) -> None:
        self._stop.set()
        self._server.close()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        await self._server.wait_closed()

    @property
    def url(self) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    async def _handle(self, reader, writer) -> None:
        self._handlers.add(asyncio.current_task())
        self.connections += 1
        self.open += 1
        self.peak = max(self.peak, self.open)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                self.requests.append(head)
                reply = self.replies.pop(0) if self.replies else OK
                if reply == HANG:
                    await self._stop.wait()
                    return
                if reply == DROP:
                    return
                if callable(reply):
                    await reply(writer)
                    return
                writer.write(reply)
                await writer.drain()
                for _ in range(3):  # let a concurrent client overlap (no time passes)
                    await asyncio.sleep(0)
                framed = any(mark in reply for mark in (b"Content-Length", b"chunked", b" 204 "))
                if b"Connection: close" in reply or reply.startswith(b"HTTP/1.0") or not framed:
                    return
        finally:
            self.open -= 1
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
            self._handlers.discard(asyncio.current_task())


async def fetch(server: ScriptedServer, paths: list[str], **options) -> list[httpx.Response]:
    """GET each path in turn over one client using the transport."""
    timeout = options.pop("timeout", 5.0)
    transport = KeepAliveTransport(**options)
    async with httpx.AsyncClient(base_url=server.url, transport=transport, timeout=timeout) as c:
        return [await c.get(path) for path in paths]


def run(coro):
    return asyncio.run(coro)


def test_keep_alive_reuses_one_connection():
    """Sequential requests share one connection, and the request line is well formed."""

    async def main():
        async with ScriptedServer([OK, OK, OK]) as server:
            responses = await fetch(server, ["/a", "/b?x=1%202", "/c"])
            return server, responses

    server, responses = run(main())
    assert [r.status_code for r in responses] == [200, 200, 200]
    assert responses[0].json() == {} and responses[0].headers["X-Request-Id"] == "r1"
    assert server.connections == 1
    assert server.requests[1].startswith(b"GET /b?x=1%202 HTTP/1.1\r\n")
    assert b"\r\nHost: 127.0.0.1:" in server.requests[0]


@pytest.mark.parametrize(
    ("reply", "body", "connections"),
    [
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n",
            b"abcde",
            1,
        ),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc", b"abc", 2),
        (b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nabc", b"abc", 2),
        (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nto the end", b"to the end", 2),
        (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", b"ok", 1),
        (b"HTTP/1.1 204 No Content\r\n\r\n", b"", 1),
        (b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\nbusy", b"busy", 1),
    ],
)
def test_body_framings(reply, body, connections):
    """Chunked, Content-Length, read-to-close and no-body answers are read whole."""

    async def main():
        async with ScriptedServer([reply, OK]) as server:
            responses = await fetch(server, ["/one", "/two"])
            return server, responses

    server, responses = run(main())
    assert responses[0].content == body
    assert responses[1].status_code == 200
    assert server.connections == connections


def test_stale_idle_connection_is_replaced():
    """A keep-alive connection the server dropped while idle is replaced, unseen by callers."""

    async def main():
        # The second request meets a server that closes without answering (as an idle
        # timeout would); the transport retries it once on a fresh connection.
        async with ScriptedServer([OK, DROP, OK]) as server:
            responses = await fetch(server, ["/a", "/b"])
            return server, responses

    server, responses = run(main())
    assert [r.status_code for r in responses] == [200, 200]
    assert server.connections == 2


def test_fresh_connection_dropped_is_an_error():
    """A new connection closed without an answer is a RemoteProtocolError, not a loop."""

    async def main():
        async with ScriptedServer([DROP]) as server:
            await fetch(server, ["/a"])

    with pytest.raises(httpx.RemoteProtocolError):
        run(main())


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (b"garbage\r\n\r\n", httpx.RemoteProtocolError),
        (b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", httpx.RemoteProtocolError),
        (b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", httpx.RemoteProtocolError),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", httpx.RemoteProtocolError),
    ],
)
def test_protocol_errors(reply, error):
    """Answers that are not HTTP raise httpx's RemoteProtocolError."""

    async def main():
        async with ScriptedServer([reply]) as server:
            await fetch(server, ["/a"])

    with pytest.raises(error):
        run(main())


def test_truncated_body_is_a_protocol_error():
    """A body shorter than its Content-Length (then close) is a RemoteProtocolError."""

    async def short(writer):
        writer.write(b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"status":')
        await writer.drain()

    async def main():
        async with ScriptedServer([short]) as server:
            await fetch(server, ["/a"])

    with pytest.raises(httpx.RemoteProtocolError):
        run(main())


def test_read_timeout():
    """A server that never answers raises ReadTimeout (a zero timeout: nothing waits)."""

    async def main():
        async with ScriptedServer([HANG]) as server:
            await fetch(server, ["/a"], timeout=httpx.Timeout(5.0, read=0.0))

    with pytest.raises(httpx.ReadTimeout):
        run(main())


def test_connect_error():
    """A closed port raises ConnectError."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    async def main():
        transport = KeepAliveTransport()
        async with httpx.AsyncClient(transport=transport) as client:
            await client.get(f"http://127.0.0.1:{port}/")

    with pytest.raises(httpx.ConnectError):
        run(main())


def test_unsupported_scheme():
    """Only http and https are spoken."""

    async def main():
        transport = KeepAliveTransport()
        request = httpx.Request("GET", "ftp://example.test/")
        await transport.handle_async_request(request)

    with pytest.raises(httpx.UnsupportedProtocol):
        run(main())


def test_connections_are_bounded():
    """Concurrent requests never open more than max_connections connections."""

    async def main():
        async with ScriptedServer([]) as server:
            transport = KeepAliveTransport(max_connections=3)
            async with httpx.AsyncClient(base_url=server.url, transport=transport) as client:
                responses = await asyncio.gather(*(client.get(f"/{i}") for i in range(12)))
            return server, responses

    server, responses = run(main())
    assert all(r.status_code == 200 for r in responses)
    assert server.peak <= 3 and server.connections <= 3


def test_post_body_is_sent_with_length():
    """A request body goes out with its Content-Length."""

    async def main():
        async with ScriptedServer([OK]) as server:
            transport = KeepAliveTransport()
            async with httpx.AsyncClient(base_url=server.url, transport=transport) as client:
                await client.post("/p", content=b"hello")
            return server

    server = run(main())
    assert b"\r\nContent-Length: 5" in server.requests[0]


@pytest.mark.parametrize(
    ("verify", "mode", "check_hostname"),
    [(True, ssl.CERT_REQUIRED, True), (False, ssl.CERT_NONE, False)],
)
def test_ssl_context(verify, mode, check_hostname):
    """TLS verification is on unless turned off; a given context is used as is."""
    context = ssl_context(verify)
    assert (context.verify_mode, context.check_hostname) == (mode, check_hostname)
    assert ssl_context(context) is context


def test_fast_session_prefix_headers_and_gzip():
    """FastSession sends the endpoint's path prefix and headers, and decodes a gzip body."""
    import gzip

    from jobtools.transport import FastSession

    body = gzip.compress(b'{"status": "SUCCESS"}')
    reply = (
        b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nX-Request-Id: r9\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )

    async def main():
        async with ScriptedServer([reply]) as server:
            session = FastSession(KeepAliveTransport(), server.url + "/prefix/", httpx.Timeout(5))
            try:
                answer = await session.get("/v1/p/jobs/j", {"Host": "h", "X-Auth-Token": "t"})
            finally:
                await session.aclose()
            return server, answer

    server, (status, headers, content) = run(main())
    assert (
        server.requests[0]
        == b"GET /prefix/v1/p/jobs/j HTTP/1.1\r\nHost: h\r\nX-Auth-Token: t\r\n\r\n"
    )
    assert (status, headers["x-request-id"], content) == (200, "r9", b'{"status": "SUCCESS"}')


def test_fast_session_refuses_header_line_breaks():
    """A header value with a line break is never written to the socket."""
    from jobtools.transport import FastSession

    async def main():
        session = FastSession(KeepAliveTransport(), "http://127.0.0.1:9", httpx.Timeout(5))
        try:
            await session.get("/x", {"X-Evil": "a\r\nHost: b"})
        finally:
            await session.aclose()

    with pytest.raises(httpx.LocalProtocolError):
        run(main())


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1, made with the openssl command."""
    import shutil
    import subprocess

    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is not installed")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
        + ["-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1"]
        + ["-addext", "subjectAltName=IP:127.0.0.1"],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.mark.parametrize("verify", ["ca", False, True])
def test_https(certificate, verify):
    """HTTPS works with the server's CA or with verification off; an unknown CA is refused."""
    cert, key = certificate
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)

    async def main():
        async with ScriptedServer([OK], tls=server_tls) as server:
            return await fetch(server, ["/a"], verify=str(cert) if verify == "ca" else verify)

    if verify is True:
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            run(main())
    else:
        assert run(main())[0].status_code == 200
