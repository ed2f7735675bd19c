"""The client's network path (aiohttp), against scripted servers on real loopback sockets."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import socket
import ssl

import httpx
import orjson
import pandas as pd
import pytest

from jobtools import errors
from jobtools.api import auth
from jobtools.api.client import JobsClient
from jobtools.api.sessions import client_timeout, env_proxy, ssl_context

PROJECT = "0123456789abcdef0123456789abcdef"
JOB = "ff8080814dbd65d7014dbe0d84db0013"
SK = "SECRET-SK-VALUE-456"
RECORD = orjson.dumps({"status": "SUCCESS", "job_id": JOB, "job_type": "t"})
HANG = "hang"  # read the request, never answer


def reply(status: str, body: bytes, *headers: str) -> bytes:
    """An HTTP/1.1 answer with a Content-Length and the given header lines."""
    head = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}", *headers]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


OK = reply("200 OK", RECORD, "X-Request-Id: r1")


def ok_for(head: bytes) -> bytes:
    """OK, for the job id the request's path asks for."""
    job_id = head.split(b" ", 2)[1].rsplit(b"/", 1)[1].decode()
    body = orjson.dumps({"status": "SUCCESS", "job_id": job_id, "job_type": "t"})
    return reply("200 OK", body, "X-Request-Id: r1")


# Content-Length promises more than arrives before the server closes the connection.
TRUNCATED = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nConnection: close\r\n\r\n" + RECORD[:10]


class ScriptedServer:
    """Answers each request with the next scripted reply (then OK); counts connections."""

    def __init__(self, replies: list, tls: ssl.SSLContext | None = None) -> None:
        self.replies = list(replies)
        self.tls = tls
        self.connections = 0
        self.open = 0
        self.peak = 0
        self.requests: list[bytes] = []
        self._handlers: set[asyncio.Task] = set()
        self._stop = asyncio.Event()

    async def __aenter__(self) -> ScriptedServer:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=self.tls)
        scheme = "https" if self.tls else "http"
        self.url = f"{scheme}://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *exc_info) -> None:
        self._stop.set()
        self._server.close()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        await self._server.wait_closed()

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
                answer = self.replies.pop(0) if self.replies else OK
                if answer == OK:
                    answer = ok_for(head)
                if answer == HANG:
                    await self._stop.wait()
                    return
                writer.write(answer)
                await writer.drain()
                for _ in range(3):  # let concurrent requests overlap (no time passes)
                    await asyncio.sleep(0)
                if b"Connection: close" in answer:
                    return
        except ConnectionError:
            return
        finally:
            self.open -= 1
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
            self._handlers.discard(asyncio.current_task())


async def no_sleep(seconds: float) -> None:
    """Retry waits skipped."""


def client_for(url: str, **options) -> JobsClient:
    """A client on the network path (no injected transport), token auth, no waiting."""
    settings = {
        "endpoint": url,
        "project_id": PROJECT,
        "token": "TOKEN-1234",
        "rate_limit": None,
        "max_attempts": 2,
        "sleep": no_sleep,
    }
    settings.update(options)
    return JobsClient(**settings)


def fetch(replies: list, ids: list[str] | None = None, tls=None, **options):
    """Fetch `ids` (default: one job) from a scripted server: (server, frame)."""

    async def main():
        async with ScriptedServer(replies, tls=tls) as server:
            client = client_for(server.url, **options)
            frame = await client.afetch_jobs(ids or [JOB], progress=False)
            return server, frame

    return asyncio.run(main())


def header_lines(head: bytes) -> list[tuple[str, str]]:
    """The (name, value) pairs of a request head, in order."""
    lines = head.decode("latin-1").split("\r\n")[1:]
    return [(n, v.strip()) for n, _, v in (line.partition(":") for line in lines if line)]


# --- what goes on the wire ---------------------------------------------------------------


def test_signed_request_goes_out_exactly_as_signed():
    """aiohttp adds no header and re-quotes nothing: the signature verifies on what arrived."""
    server, frame = fetch([OK], token=None, ak="AKEXAMPLE", sk=SK)
    assert frame.loc[0, "outcome"] == "ok"
    head = server.requests[0]
    assert head.startswith(f"GET /v1/{PROJECT}/jobs/{JOB} HTTP/1.1\r\n".encode())
    received = dict(header_lines(head))
    names = {"Host", "Accept", "User-Agent", "X-Project-Id", "X-Sdk-Date", "Authorization"}
    assert set(received) == names
    assert received["Host"] == server.url.removeprefix("http://")
    access, signed, signature = auth.parse_authorization(received["Authorization"])
    assert signed == "accept;host;user-agent;x-project-id;x-sdk-date"
    path = f"/v1/{PROJECT}/jobs/{JOB}"
    assert auth.verify_signature(SK, "GET", path, "", received, b"", signed, signature)


def test_endpoint_path_prefix_is_kept():
    """An endpoint with a path (behind a gateway) prefixes every request path."""

    async def main():
        async with ScriptedServer([OK]) as server:
            client = client_for(server.url + "/gw/ims/")
            await client.aget_job(JOB)
            return server

    server = asyncio.run(main())
    assert server.requests[0].startswith(f"GET /gw/ims/v1/{PROJECT}/jobs/{JOB} ".encode())


def test_keep_alive_and_pool_bounded_by_concurrency():
    """Many ids reuse at most `concurrency` connections."""
    ids = [f"{i:032x}" for i in range(30)]
    server, frame = fetch([], ids, concurrency=3)
    assert frame["outcome"].eq("ok").all()
    assert server.peak <= 3 and server.connections <= 3
    assert len(server.requests) == 30


def test_session_reused_across_calls_in_async_with():
    """Inside `async with client`, calls share one pool (one connection here)."""

    async def main():
        async with ScriptedServer([]) as server:
            async with client_for(server.url) as client:
                await client.aget_job(JOB)
                await client.aget_job("a" * 32)
                await client.afetch_jobs(["b" * 32], progress=False)
            return server

    assert asyncio.run(main()).connections == 1


# --- answers and failures -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "outcome", "attempts"),
    [
        (reply("503 Service Unavailable", b"busy", "X-Request-Id: r5"), "server_error", 2),
        (reply("302 Found", b"", f"Location: /v1/{PROJECT}/jobs/{JOB}"), "http_error", 1),
        (TRUNCATED, "connection_error", 2),
        (b"garbage\r\n\r\n", "connection_error", 2),
        (reply("200 OK", gzip.compress(RECORD), "Content-Encoding: gzip"), "ok", 1),
        (reply("200 OK", b"not gzip", "Content-Encoding: gzip"), "bad_body", 2),
    ],
)
def test_answers_become_outcomes(answer, outcome, attempts):
    """Errors keep their status, a redirect is not followed, a body cut short of its
    Content-Length or a broken answer is a (retried) connection error, gzip is decoded
    (and broken gzip is a retried bad body)."""
    server, frame = fetch([answer, answer])
    row = frame.iloc[0]
    assert (row.job_id, row.outcome) == (JOB, outcome)
    assert len(server.requests) == attempts
    if outcome == "connection_error":
        assert pd.isna(row.http_status) and row.fetch_error


def test_read_timeout_is_a_timeout_outcome():
    """A server that never answers gives a `timeout` row once the read timeout passes."""
    timeout = httpx.Timeout(5.0, read=0.01)
    server, frame = fetch([HANG, HANG], timeout=timeout)
    assert frame.loc[0, "outcome"] == "timeout"
    assert len(server.requests) == 2


def test_connect_error_is_a_connection_outcome():
    """A closed port gives a `connection_error` row naming aiohttp's error."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    async def main():
        return await client_for(f"http://127.0.0.1:{port}").afetch_jobs([JOB], progress=False)

    row = asyncio.run(main()).iloc[0]
    assert row.outcome == "connection_error"
    assert row.fetch_error.startswith("ClientConnectorError")


# --- settings -----------------------------------------------------------------------------


def test_timeouts_map_to_aiohttp():
    """Connect and read timeouts become aiohttp's socket timeouts; there is no total."""
    mapped = client_timeout(httpx.Timeout(30.0, connect=10.0, pool=20.0))
    assert (mapped.total, mapped.sock_connect, mapped.sock_read, mapped.connect) == (
        None,
        10.0,
        30.0,
        20.0,
    )


@pytest.mark.parametrize(
    ("verify", "mode", "check_hostname"),
    [(True, ssl.CERT_REQUIRED, True), (False, ssl.CERT_NONE, False)],
)
def test_ssl_context(verify, mode, check_hostname):
    """TLS verification is on unless turned off; a given context is used as is."""
    context = ssl_context(verify)
    assert (context.verify_mode, context.check_hostname) == (mode, check_hostname)
    assert ssl_context(context) is context


@pytest.mark.parametrize(
    ("endpoint", "expected"),
    [
        ("http://ims.example.test", "http://proxy.test:3128"),
        ("https://ims.example.test", "http://secure-proxy.test:3128"),
        ("https://bypassed.example.org", None),
        ("ftp://ims.example.test", "http://any-proxy.test:3128"),
    ],
)
def test_env_proxy(monkeypatch, endpoint, expected):
    """The environment's proxy for the endpoint's scheme (else ALL_PROXY), unless NO_PROXY
    matches."""
    for name in ("http_proxy", "https_proxy", "no_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.test:3128")
    monkeypatch.setenv("HTTPS_PROXY", "http://secure-proxy.test:3128")
    monkeypatch.setenv("ALL_PROXY", "http://any-proxy.test:3128")
    monkeypatch.setenv("NO_PROXY", "localhost,.example.org")
    assert env_proxy(endpoint) == expected


def test_requests_go_through_the_environments_proxy(monkeypatch):
    """With HTTP_PROXY set, the GET goes to the proxy, in absolute form."""
    for name in ("http_proxy", "no_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)

    async def main():
        async with ScriptedServer([OK]) as proxy:
            monkeypatch.setenv("HTTP_PROXY", proxy.url)
            with pytest.warns(errors.PlainHttpWarning, match="ims.example.test"):
                client = client_for("http://ims.example.test")
            frame = await client.afetch_jobs([JOB], progress=False)
            return proxy, frame

    proxy, frame = asyncio.run(main())
    assert frame.loc[0, "outcome"] == "ok"
    target = f"GET http://ims.example.test/v1/{PROJECT}/jobs/{JOB} HTTP/1.1\r\n"
    assert proxy.requests[0].startswith(target.encode())
    assert dict(header_lines(proxy.requests[0]))["Host"] == "ims.example.test"


# --- HTTPS ---------------------------------------------------------------------------------


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


@pytest.mark.parametrize("verify", ["ca", "ca-path", "context", False, True])
def test_https(certificate, verify):
    """HTTPS works with the server's CA (a path or a context) or with verification off;
    with verification on, an unknown CA is refused."""
    cert, key = certificate
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    given = {
        "ca": str(cert),
        "ca-path": cert,
        "context": ssl.create_default_context(cafile=str(cert)),
    }.get(verify, verify)
    server, frame = fetch([OK], tls=server_tls, verify=given, max_attempts=1)
    row = frame.iloc[0]
    if verify is True:
        assert row.outcome == "connection_error"
        assert "CERTIFICATE_VERIFY_FAILED" in row.fetch_error
    else:
        assert (row.outcome, row.request_id) == ("ok", "r1")


def test_a_certificate_that_does_not_verify_is_one_error_never_retried(certificate):
    """An unknown CA: one attempt, one row naming the host and the failure, the batch
    stopped (every id goes to the same host), however many attempts were allowed."""
    cert, key = certificate
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)

    async def main():
        async with ScriptedServer([OK, OK, OK], tls=server_tls) as server:
            client = client_for(server.url, max_attempts=6)
            return server, await client.afetch_results([JOB, "a" * 32, "b" * 32], progress=False)

    server, results = asyncio.run(main())
    assert not server.requests  # the handshake failed, once: `attempts` says it was not retried
    assert [r.outcome for r in results] == ["connection_error"] * 3
    assert results[0].attempts == 1 and "does not verify" in (results[0].error or "")
    assert "127.0.0.1" in (results[0].error or "")
    assert all((r.error or "").startswith("not sent: ") for r in results[1:])


def test_ssl_cert_file_from_the_environment_is_trusted(certificate, monkeypatch):
    """`SSL_CERT_FILE` names the CA bundle to trust, as httpx and requests read it."""
    cert, key = certificate
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    server, frame = fetch([OK], tls=server_tls, verify=True, max_attempts=1)
    assert (frame.loc[0, "outcome"], frame.loc[0, "request_id"]) == ("ok", "r1")
