"""The benchmark's input for `bench_archive.py`: N records as JSONL across files, made once.

    .venv/bin/python benchmarks/_archive_data.py [--n 10000000] [--files 20]

Each file is `generate_jobs(n / files, seed=DEFAULT_SEED + i)`, written to a temporary name
and renamed when complete, so an interrupted run resumes with the files it lacks.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import orjson

from jobtools.sample import DEFAULT_SEED, generate_jobs

DATA = Path(__file__).resolve().parent / "_data"


def jsonl_dir(n: int, files: int) -> Path:
    return DATA / f"archive-{n}-{files}"


def make(n: int, files: int) -> list[Path]:
    """The JSONL files of `n` records in `files` files, generated where missing."""
    folder = jsonl_dir(n, files)
    folder.mkdir(parents=True, exist_ok=True)
    per_file = n // files
    paths = []
    for index in range(files):
        path = folder / f"jobs-{index:02d}.jsonl"
        paths.append(path)
        if path.exists():
            continue
        partial = path.with_suffix(".tmp")
        # Generated in slices, so that the dicts of half a million records never pile up.
        with partial.open("wb") as out:
            for part in range(0, per_file, 50_000):
                count = min(50_000, per_file - part)
                seed = (DEFAULT_SEED + index) * 1000 + part // 50_000
                out.write(b"".join(orjson.dumps(r) + b"\n" for r in generate_jobs(count, seed)))
        os.replace(partial, path)
        print(f"wrote {path} ({path.stat().st_size / 2**20:.0f} MiB)", flush=True)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=10_000_000)
    parser.add_argument("--files", type=int, default=20)
    args = parser.parse_args()
    make(args.n, args.files)


if __name__ == "__main__":
    main()
