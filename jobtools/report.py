"""A report folder another analyst can open: CSV tables, PNG plots, a workbook, a manifest.

`write_report(frame, folder)` writes

* `jobs.csv`: the jobs, as `write_jobs` writes them (`read_jobs` reads back an equal frame);
* `failures.csv`: `failure_groups`; `summary.csv`: `summary_by_type`; `rates.csv`:
  `rates_over_time`;
* `findings.md`: `findings(frame)` in plain sentences (English, then Chinese) and tables:
  whether the failure rate changed, since when, and what drove it;
* `findings.png` (the findings' picture), `durations.png`, `failure_reasons.png`,
  `timeline.png`, `rates.png`, `status_counts.png`;
* with `xlsx=True`, `report.xlsx`: the findings first, then the same tables and the failed
  fetches as sheets of one workbook, with real date cells, native charts and a notes sheet
  (`jobtools.workbook`);
* `manifest.json`: how the report was made (inputs, filters, time window, time zone, package
  version, fetch errors, time-quality counts, row counts, the findings' method and its
  parameters, when).

Every CSV is written by `write_jobs`: times ISO 8601 (UTC, or the report's `tz=` with its
offset), durations in seconds, columns in a fixed order. With `excel=True` the CSV files start
with a UTF-8 BOM, so Excel shows Chinese text, and text cells (and header names) that a
spreadsheet would run as a formula get a leading `'` (`fail_reason` is the service's text,
not ours). `tz=` also cuts the rates' periods at local midnight and draws the time axes in
that zone; the frame itself stays in UTC.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from datetime import datetime, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from jobtools.analysis.failures import failure_groups
from jobtools.analysis.findings import Findings, findings
from jobtools.analysis.quality import time_quality
from jobtools.analysis.summary import rates_over_time, summary_by_type
from jobtools.io import write_jobs
from jobtools.outcome import Outcome
from jobtools.times import iso_text, to_utc, to_zone, zone_name
from jobtools.views import plots

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["FINDINGS_FILE", "FINDINGS_PLOT", "REPORT_FILES", "XLSX_FILE", "write_report"]

# name -> (plot function, figure size in inches)
_PLOTS: dict[str, tuple[Any, tuple[float, float]]] = {
    "durations.png": (plots.plot_durations, (9, 6)),
    "failure_reasons.png": (plots.plot_failure_reasons, (11, 5)),
    "timeline.png": (plots.plot_timeline, (11, 6)),
    "rates.png": (plots.plot_rates, (10, 4)),
    "status_counts.png": (plots.plot_status_counts, (7, 4)),
}
XLSX_FILE = "report.xlsx"
FINDINGS_FILE = "findings.md"
FINDINGS_PLOT = "findings.png"
REPORT_FILES: tuple[str, ...] = (
    "jobs.csv",
    "failures.csv",
    "summary.csv",
    "rates.csv",
    FINDINGS_FILE,
    FINDINGS_PLOT,
    *_PLOTS,
    "manifest.json",
)
# At most this many failed fetches (or unreadable records) are listed one by one in the
# manifest; all are counted.
_MAX_LISTED = 100


def write_report(
    frame: pd.DataFrame,
    folder: str | Path,
    *,
    excel: bool = False,
    xlsx: bool = False,
    csv: bool = True,
    tz: str | tzinfo | None = None,
    overwrite: bool = False,
    period: str = "1D",
    plot: bool = True,
    inputs: Sequence[str] = (),
    filters: Mapping[str, Any] | None = None,
    now: datetime | str | None = None,
) -> Path:
    """Write the report of `frame` into `folder` (created if missing) and return its path.

    Args:
        excel: UTF-8 with a BOM and formula-like text cells neutralised, for Excel. Then
            `jobs.csv` is for reading, not for `read_jobs`.
        xlsx: also write `report.xlsx` (see `jobtools.workbook`).
        csv: False writes no CSV files (only the workbook, the plots and the manifest).
        tz: the report's time zone (an IANA name such as "Asia/Shanghai"; default UTC): the
            times in the CSVs and the workbook, the rates' periods and the plots' axes.
        overwrite: replace the report files of a folder that is not empty; without it such a
            folder is refused. Other files in the folder are left alone.
        period: the period of `rates.csv` and `rates.png` ("1h", "1D", "1W", ...).
        plot: False skips the PNG files.
        inputs: where the frame came from (paths, URLs), recorded in the manifest.
        filters: how it was narrowed (e.g. `{"since": ..., "until": ...}`), recorded too.
        now: the report's time: `created_at`, the end of running jobs' bars, the future check.

    Raises:
        FileExistsError: `folder` is not empty and `overwrite` is False.
        ValueError: `period` is not a frequency, `tz` not a zone, or nothing to write.
    """
    out = Path(folder)
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"not a folder: {out}")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise FileExistsError(f"report folder is not empty: {out} (pass overwrite=True to replace)")
    if not csv and not xlsx:
        raise ValueError("nothing to write: csv=False needs xlsx=True")
    moment = pd.Timestamp.now(tz="UTC") if now is None else to_utc(now, "now")
    zone = to_zone(tz)
    # Everything is computed before the first file is written: a bad `period` or `tz` leaves
    # no debris.
    groups = failure_groups(frame)
    summary = summary_by_type(frame)
    rates = rates_over_time(frame, period, tz=zone)
    quality = time_quality(frame, now=moment)
    found = findings(frame, tz=zone)
    tables = {
        "jobs.csv": frame,
        "failures.csv": groups,
        "summary.csv": summary,
        "rates.csv": rates.reset_index(),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    # Written into a temporary folder beside `out`, then moved in with the manifest last: a
    # failure anywhere (a full disk, a workbook too big) leaves no report without a manifest.
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
    try:
        _write_files(
            work,
            frame,
            tables,
            groups,
            summary,
            rates,
            quality,
            found,
            excel=excel,
            xlsx=xlsx,
            csv=csv,
            plot=plot,
            period=period,
            inputs=inputs,
            filters=filters,
            moment=moment,
            zone=zone,
        )
        _move_in(work, out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out


def _write_files(
    work: Path,
    frame: pd.DataFrame,
    tables: dict[str, pd.DataFrame],
    groups: pd.DataFrame,
    summary: pd.DataFrame,
    rates: pd.DataFrame,
    quality: pd.DataFrame,
    found: Findings,
    *,
    excel: bool,
    xlsx: bool,
    csv: bool,
    plot: bool,
    period: str,
    inputs: Sequence[str],
    filters: Mapping[str, Any] | None,
    moment: pd.Timestamp,
    zone: tzinfo,
) -> None:
    """Every file of the report into `work`, the manifest last."""
    manifest = _manifest(
        frame,
        tables=tables,
        quality=quality,
        files=[],
        excel=excel,
        period=period,
        inputs=inputs,
        filters=filters,
        now=moment,
        zone=zone,
        found=found,
    )
    written: list[str] = []
    if xlsx:
        # First: a workbook that cannot hold the jobs is refused before minutes of CSVs.
        from jobtools.workbook import write_workbook

        notes = {k: manifest[k] for k in ("created_at", "inputs", "filters", "time_window")}
        notes |= {
            "period": period,
            "rows": manifest["rows"],
            "jobtools": manifest["jobtools_version"],
        }
        write_workbook(
            work / XLSX_FILE,
            jobs=frame,
            groups=groups,
            summary=summary,
            rates=rates.reset_index(),
            zone=zone,
            notes=notes,
            findings=found,
        )
        written.append(XLSX_FILE)
    if csv:
        for name, table in tables.items():
            # One CSV dialect for the whole report: the one `read_jobs` reads back (ISO 8601
            # times with their offset, timedeltas as `<name>_s` seconds, BOM and neutralised
            # formulas for Excel).
            write_jobs(table, work / name, excel=excel, tz=zone)
        written += list(tables)
    (work / FINDINGS_FILE).write_text(_findings_markdown(found), encoding="utf-8")
    written.append(FINDINGS_FILE)
    if plot:
        _write_plots(frame, groups, work, period=period, now=moment, zone=zone)
        _write_figure(found.plot, work / FINDINGS_PLOT, (10, 5))
        written += [FINDINGS_PLOT, *_PLOTS]
    manifest["files"] = [*written, "manifest.json"]
    text = json.dumps(manifest, ensure_ascii=False, indent=2) + "\n"
    (work / "manifest.json").write_text(text, encoding="utf-8")


def _move_in(work: Path, out: Path) -> None:
    """The finished report from `work` into `out`: renamed whole, or file by file, manifest last.

    A folder that is missing or empty is replaced by `work` in one rename; into one with other
    files in it (overwrite), the report's files are moved one by one, the manifest last, after
    the old report's files (those of REPORT_FILES and the workbook) are removed.
    """
    if out.is_dir() and not any(out.iterdir()):
        out.rmdir()
    if not out.exists():
        work.rename(out)
        return
    for name in (*REPORT_FILES, XLSX_FILE):
        (out / name).unlink(missing_ok=True)
    for path in sorted(work.iterdir(), key=lambda p: p.name == "manifest.json"):
        os.replace(path, out / path.name)


def _write_plots(
    frame: pd.DataFrame,
    groups: pd.DataFrame,
    out: Path,
    *,
    period: str,
    now: pd.Timestamp,
    zone: tzinfo,
) -> None:
    arguments: dict[str, tuple[Any, dict[str, Any]]] = {
        "durations.png": (frame, {"log": True}),
        "failure_reasons.png": (groups, {}),
        "timeline.png": (frame, {"now": now, "tz": zone}),
        "rates.png": (frame, {"period": period, "tz": zone}),
        "status_counts.png": (frame, {}),
    }
    for name, (function, size) in _PLOTS.items():
        data, options = arguments[name]
        _write_figure(functools.partial(function, data, **options), out / name, size)


def _write_figure(draw: Any, path: Path, size: tuple[float, float]) -> None:
    """`draw(ax=...)` on a new figure, saved as a PNG at `path`."""
    # Figures made without pyplot: no global state, nothing to close, no GUI backend needed.
    from matplotlib.figure import Figure

    figure = Figure(figsize=size, layout="constrained")
    ax: Axes = figure.add_subplot()
    draw(ax=ax)
    with warnings.catch_warnings():
        # Without a font for Chinese, each missing glyph warns; the CSV has the text.
        warnings.filterwarnings("ignore", message="Glyph .* missing from font")
        figure.savefig(path, dpi=100)


def _findings_markdown(found: Findings) -> str:
    """`findings.md`: the sentences and tables, then the same sentences in Chinese."""
    chinese = found.text(lang="zh")
    return f"{found.to_markdown().rstrip()}\n\n## 中文\n\n{chinese.rstrip()}\n"


def _manifest(
    frame: pd.DataFrame,
    *,
    tables: Mapping[str, pd.DataFrame],
    quality: pd.DataFrame,
    files: list[str],
    excel: bool,
    period: str,
    inputs: Sequence[str],
    filters: Mapping[str, Any] | None,
    now: pd.Timestamp,
    zone: tzinfo,
    found: Findings,
) -> dict[str, Any]:
    from jobtools import __version__

    status = plots._status_labels(frame["status"]).value_counts()
    return {
        "created_at": _iso_one(now),
        "jobtools_version": __version__,
        "inputs": [str(i) for i in inputs],
        "filters": {k: _plain(v) for k, v in (filters or {}).items()},
        "time_window": {
            "first_begin": _iso_one(frame["begin_time"].min()),
            "last_begin": _iso_one(frame["begin_time"].max()),
            "last_end": _iso_one(frame["end_time"].max()),
        },
        "period": period,
        # The zone of the CSVs' and the workbook's times and of the periods; the manifest's
        # own times stay UTC.
        "time_zone": zone_name(zone),
        "excel": excel,
        # The rows of each CSV written: jobs, failure groups, job types, periods.
        "rows": {name: len(table) for name, table in tables.items()},
        "status_counts": {str(k): int(v) for k, v in status.items()},
        "time_quality": {str(k): int(v) for k, v in quality.sum().items()},
        "fetch_errors": _fetch_errors(frame),
        "skipped_input_records": _skipped(frame),
        # How findings.md was found, so that another run can check it.
        "findings": {
            "headline": found.headline(),
            "changes": len(found.changes),
            "method": {k: _plain(v) for k, v in found.method.items()},
        },
        "files": files,
    }


def _fetch_errors(frame: pd.DataFrame) -> dict[str, Any] | None:
    """Counts of failed fetches by outcome, and the first ones listed; None if not fetched."""
    if "outcome" not in frame.columns:
        return None
    outcome = frame["outcome"].astype("str")
    failed = frame[(outcome != Outcome.OK).to_numpy()]
    columns = [
        c
        for c in ("job_id", "outcome", "http_status", "fetch_error_code", "fetch_error")
        if c in frame.columns
    ]
    listed = failed[columns].head(_MAX_LISTED)
    return {
        "count": len(failed),
        "by_outcome": {
            str(k): int(v) for k, v in failed["outcome"].astype("str").value_counts().items()
        },
        "jobs": [
            {k: _plain(v) for k, v in row.items()} for row in listed.to_dict(orient="records")
        ],
    }


def _skipped(frame: pd.DataFrame) -> dict[str, Any]:
    """The records `read_jobs` could not read (file, line, error), counted and listed, and
    the files it skipped whole (file, error)."""
    problems = frame.attrs.get("corrupt_lines") or []
    listed = [{k: _plain(v) for k, v in p.items()} for p in problems[:_MAX_LISTED]]
    files = [{k: _plain(v) for k, v in f.items()} for f in frame.attrs.get("skipped_files") or []]
    return {"count": len(problems), "records": listed, "files": files}


def _iso_one(moment: Any) -> str | None:
    """One time as jobs.csv writes times: ISO 8601 UTC, milliseconds unless finer."""
    if moment is None or pd.isna(moment):
        return None
    return str(iso_text(pd.Series([pd.Timestamp(moment)])).iloc[0])


def _plain(value: Any) -> Any:
    """A JSON-friendly value: times as ISO text, missing as None, numpy scalars as Python."""
    if isinstance(value, datetime | pd.Timestamp):
        stamp = pd.Timestamp(value)
        return _iso_one(stamp if stamp.tzinfo else stamp.tz_localize("UTC"))
    if value is None or (not isinstance(value, str | list | dict) and pd.isna(value)):
        return None
    if hasattr(value, "item"):
        return value.item()
    return value
