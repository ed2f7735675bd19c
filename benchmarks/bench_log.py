"""Job ids out of a big console log, streamed: time and peak memory beside the plain way.

A log of SIZE MB (default 200) of realistic lines (heartbeats, request ids in 32 hex, the
word "job" in scheduler lines) with 10 job ids, one of them cut by a terminal's wrap. Each
way runs in its own process, so that its peak memory (ru_maxrss) is its own:

* ours: `extract_job_ids(path)`, streamed in blocks, Arrow's regex engine picking the lines;
* plain: read the whole file, `re.findall` of 32-hex tokens (finds request ids too, and
  misses the wrapped id);
* whole: `extract_job_ids(text)` on the text read whole (what it did before streaming).

    .venv/bin/python benchmarks/bench_log.py [SIZE_MB]
"""

from __future__ import annotations

import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WAYS = {
    "ours": "from jobtools.ids import extract_job_ids; r = extract_job_ids(Path(p))",
    "plain": "import re; r = sorted(set(re.findall(r'\\b[0-9a-f]{32}\\b', Path(p).read_text())))",
    "whole": "from jobtools.ids import extract_job_ids; r = extract_job_ids(Path(p).read_text())",
}
RUN = """
import resource, sys, time, warnings
from pathlib import Path
warnings.simplefilter("ignore")
p = sys.argv[1]
t = time.perf_counter()
{work}
print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, len(r))
"""


def make_log(path: Path, size_mb: int) -> list[str]:
    from jobtools.ids import make_job_id

    rng = random.Random(1)
    ids = [make_job_id(1730880000 + 60 * i, node=0xFF808081, jvm=9, counter=i) for i in range(10)]
    lines = []
    for n in range(20000):
        if n % 10 == 0:
            rid = f"{rng.getrandbits(128):032x}"
            lines.append(f"2024-11-06 08:00:00 INFO GET /v1/servers -> 200 request_id={rid}\n")
        elif n % 10 == 5:
            lines.append(f"2024-11-06 08:00:01 DEBUG job scheduler tick {n}, nothing pending\n")
        else:
            lines.append(f"2024-11-06 08:00:02 INFO worker-{n % 7} heartbeat ok, depth {n % 5}\n")
    chunk = "".join(lines)
    repeats = max(1, size_mb * 1_000_000 // len(chunk))
    every = max(1, repeats // len(ids))
    with path.open("w") as out:
        for i in range(repeats):
            out.write(chunk)
            if i % every == 0 and i // every < len(ids):
                job_id = ids[i // every]
                if i // every == 3:  # cut by an 80-column terminal
                    text = f"2024-11-06 09:00:00 INFO export started, resource 42, job_id={job_id}"
                    out.write(text[:80] + "\n" + text[80:] + "\n")
                else:
                    out.write(f"2024-11-06 09:00:00 INFO export started, job_id={job_id}\n")
    return ids


def main() -> None:
    size = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "console.log"
        started = time.perf_counter()
        make_log(path, size)
        mb = path.stat().st_size / 1e6
        print(f"log of {mb:,.0f} MB made in {time.perf_counter() - started:.1f} s")
        results = {}
        for name, work in WAYS.items():
            out = subprocess.run(
                [sys.executable, "-c", RUN.format(work=work), str(path)],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.split()
            seconds, peak_kb, found = float(out[0]), int(out[1]), int(out[2])
            results[name] = seconds
            print(f"  {name:<6} {seconds:8.1f} s  peak {peak_kb / 1024:7.0f} MiB  {found} found")
        print(f"  plain / ours: {results['plain'] / results['ours']:.2f}x time")
        print(f"  whole / ours: {results['whole'] / results['ours']:.2f}x time")


if __name__ == "__main__":
    main()
