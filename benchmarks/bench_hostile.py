"""What a hostile server costs the client: memory under huge bodies, time under slow ones.

A small aiohttp server (this process) plays four cases; each client runs in a child
process, so its peak RSS is its own:

(a) a 1 GB body (chunked, never announced) and (b) a gzip bomb (200 MB of zeros in about
    200 KB): jobtools' peak memory with its body cap (8 MiB by default) beside a plain
    `aiohttp` GET that reads the body (`await response.read()`, what the client did before);
(c) a body dripped one byte a second: jobtools with `attempt_timeout=3` beside plain
    aiohttp with the old timeouts (30 s per read, no total), which waits for the whole body;
(d) throttling that never ends (429 `APIGW.0308`, `Retry-After: 1`) for 1,000 ids with
    `max_retry_wait=20`: the time until every row is there, beside the bound of the old
    path (6 attempts, 60 s Retry-After honoured, 16 in flight), computed.

    .venv/bin/python benchmarks/bench_hostile.py
"""

from __future__ import annotations

import asyncio
import gzip
import json
import resource
import subprocess
import sys
import threading
import time

import aiohttp
from aiohttp import web

PROJECT = "0123456789abcdef0123456789abcdef"
JOB = "ff8080814dbd65d7014dbe0d84db0013"
GIB = 1 << 30
DRIP = b'{"status": "SUCCESS", "job_id": "' + JOB.encode() + b'"}'
_BOMB: list[bytes] = []  # made once, in the server only (a child must not pay for it)


def bomb() -> bytes:
    if not _BOMB:
        _BOMB.append(gzip.compress(b"\0" * (200 << 20), compresslevel=9))
    return _BOMB[0]


async def handle(request: web.BaseRequest) -> web.StreamResponse:
    case = request.path.split("/")[1]
    if case == "throttle":
        body = b'{"error_code": "APIGW.0308", "error_msg": "throttled"}'
        return web.Response(status=429, body=body, headers={"Retry-After": "1"})
    response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
    if case == "bomb":
        response.headers["Content-Encoding"] = "gzip"
        response.content_length = len(bomb())
    elif case == "drip":
        response.content_length = len(DRIP)
    else:
        response.enable_chunked_encoding()
    await response.prepare(request)
    try:
        if case == "bomb":
            await response.write(bomb())
        elif case == "drip":
            for i in range(len(DRIP)):
                await response.write(DRIP[i : i + 1])
                await asyncio.sleep(1.0)
        else:
            chunk = b" " * (1 << 20)
            for _ in range(GIB // len(chunk)):
                await response.write(chunk)
        await response.write_eof()
    except (ConnectionError, RuntimeError):
        pass  # the client stopped reading
    return response


def serve() -> str:
    """Start the server on a thread; return its URL."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    box: dict[str, str] = {}

    async def start() -> None:
        runner = web.ServerRunner(web.Server(handle))
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        box["url"] = f"http://127.0.0.1:{runner.addresses[0][1]}"
        ready.set()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(start())
        loop.run_forever()

    threading.Thread(target=run, daemon=True).start()
    ready.wait()
    return box["url"]


# --- the clients, each in a child process ---------------------------------------------


def ours(url: str, case: str) -> dict[str, object]:
    from jobtools.api.client import JobsClient

    if case == "idle":
        return {}  # the imports alone: the baseline of every jobtools child
    options: dict = {"endpoint": f"{url}/{case}", "project_id": PROJECT, "token": "t0ken-x"}
    options.update(rate_limit=None, max_attempts=1)
    ids = [JOB]
    if case == "drip":
        options["attempt_timeout"] = 3.0
    if case == "throttle":
        options.update(max_attempts=6, max_retry_wait=20.0, concurrency=16)
        ids = [f"{i:032x}" for i in range(1000)]
    client = JobsClient(**options)
    start = time.perf_counter()
    frame = client.fetch_jobs(ids, progress=False)
    seconds = round(time.perf_counter() - start, 2)
    counts = frame["outcome"].value_counts()
    outcomes = {k: int(v) for k, v in counts.items() if v}
    return {"rows": len(frame), "outcomes": outcomes, "seconds": seconds}


def plain(url: str, case: str) -> dict[str, object]:
    async def main() -> dict[str, object]:
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=30)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            path = f"{url}/{case}/v1/{PROJECT}/jobs/{JOB}"
            start = time.perf_counter()
            async with session.get(path) as response:
                body = await response.read()
        return {"bytes read": len(body), "seconds": round(time.perf_counter() - start, 2)}

    try:
        return asyncio.run(main())
    except MemoryError:
        return {"error": "MemoryError"}


def peak_rss_mib() -> int:
    """This process's peak RSS. Not `ru_maxrss`: Linux carries that across exec, so a child
    would report its parent's peak; `VmHWM` belongs to the process image itself."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def child(who: str, url: str, case: str) -> None:
    result = (ours if who == "ours" else plain)(url, case)
    result["peak_rss_mib"] = peak_rss_mib()
    print(json.dumps(result))


def run(who: str, url: str, case: str) -> dict:
    done = subprocess.run(
        [sys.executable, __file__, "child", who, url, case],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode:
        return {"error": done.stderr.strip().splitlines()[-1:]}
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> int:
    if sys.argv[1:2] == ["child"]:
        child(*sys.argv[2:5])
        return 0
    url = serve()
    bomb()
    idle = run("ours", url, "idle")["peak_rss_mib"]
    print(f"jobtools imported, nothing fetched: peak RSS {idle} MiB (the baseline below)")
    for label, case in (("(a) 1 GB body", "big"), ("(b) gzip bomb, 200 MB", "bomb")):
        mine, theirs = run("ours", url, case), run("plain", url, case)
        print(f"{label}")
        grew = mine["peak_rss_mib"] - idle
        print(
            f"    jobtools     peak RSS {mine['peak_rss_mib']:>6} MiB (+{grew} over the baseline)"
        )
        print(f"                 {mine.get('outcomes')}")
        print(f"    plain read   peak RSS {theirs.get('peak_rss_mib', '?'):>6} MiB  {theirs}")
        if "peak_rss_mib" in theirs:
            ratio = theirs["peak_rss_mib"] / mine["peak_rss_mib"]
            print(f"    ratio        {ratio:.1f}x (whole processes)")
    mine, theirs = run("ours", url, "drip"), run("plain", url, "drip")
    print(f"(c) a {len(DRIP)}-byte body dripped at 1 byte/s")
    print(f"    jobtools (attempt_timeout 3 s) {mine['seconds']:>6} s  {mine.get('outcomes')}")
    print(f"    plain (30 s per read, no total) {theirs['seconds']:>5} s  {theirs}")
    mine = run("ours", url, "throttle")
    old = 1000 / 16 * 6 * 60
    print("(d) 1,000 ids, every answer 429 with Retry-After: 1, max_retry_wait 20 s")
    print(f"    jobtools: {mine['rows']} rows in {mine['seconds']} s  {mine.get('outcomes')}")
    print(f"    old path at Retry-After 60: 1000 / 16 x 6 x 60 s = {old / 3600:.1f} h (computed)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
