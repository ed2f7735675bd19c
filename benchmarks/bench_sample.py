"""Benchmark: writing N generated job records as JSONL, beside the record-at-a-time way.

Ours (`jobtools.sample.write_jobs`) draws each column of a chunk of jobs with NumPy and
writes the JSON lines straight from the columns. The plain way is the generator this one
replaced (commit ad713ab, read from git): one `random.Random` draw, one `datetime` and one
dict per job, then `orjson.dumps` per record. It is timed on a slice of N (it takes minutes
for millions) and scaled to N. Both write the same shape of record; `read_jobs` reads ours.

    .venv/bin/python benchmarks/bench_sample.py [N] [--scenario NAME]
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

from jobtools.sample import DEFAULT_SEED, write_jobs
from jobtools.scenarios import SCENARIOS

ROOT = Path(__file__).resolve().parent.parent
BEFORE = "ad713ab"  # the last commit with the record-at-a-time generator
PLAIN_SLICE = 30_000


def plain_writer(folder: Path):  # type: ignore[no-untyped-def]
    """The old generator's `generate_jobs`, loaded from git (None outside a clone)."""
    try:
        source = subprocess.run(
            ["git", "-C", str(ROOT), "show", f"{BEFORE}:jobtools/sample.py"],
            capture_output=True,
            check=True,
            text=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    path = folder / "old_sample.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("old_sample", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["old_sample"] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module.generate_jobs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("n", type=int, nargs="?", default=3_000_000)
    parser.add_argument("--scenario", choices=sorted(SCENARIOS))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        options: dict[str, object] = {}
        seed = DEFAULT_SEED
        if args.scenario:
            chosen = SCENARIOS[args.scenario]
            from jobtools.sample import DEFAULT_NOW

            options, seed = chosen.options(DEFAULT_NOW), chosen.seed
        started = time.perf_counter()
        out = write_jobs(folder / "ours.jsonl", args.n, seed, **options)  # type: ignore[arg-type]
        ours = time.perf_counter() - started
        size = out.stat().st_size
        print(f"{args.n:,} records, {size / 1e9:.2f} GB of JSONL")
        print(f"  jobtools write_jobs (NumPy columns, lines from columns): {ours:7.1f} s")
        generate = plain_writer(folder)
        if generate is None:
            print("  the record-at-a-time generator: not timed (no git history here)")
            return
        count = min(args.n, PLAIN_SLICE)
        started = time.perf_counter()
        with (folder / "plain.jsonl").open("wb") as sink:
            for record in generate(count, seed=DEFAULT_SEED):
                sink.write(orjson.dumps(record) + b"\n")
        plain = (time.perf_counter() - started) * args.n / count
        print(
            f"  record at a time ({BEFORE}, {count:,} timed, scaled): {plain:7.1f} s"
            f"   ratio {plain / ours:.0f}x"
        )


if __name__ == "__main__":
    sys.exit(main())
