"""jobtools: the asynchronous jobs of a cloud image service as typed pandas DataFrames."""

from __future__ import annotations

from typing import TYPE_CHECKING

import jobtools.progress as _progress
from jobtools.analysis.failures import (
    compare_failures,
    failure_groups,
    failure_keys,
    failure_rows,
    message_templates,
)
from jobtools.analysis.findings import Findings, findings
from jobtools.analysis.quality import time_quality
from jobtools.analysis.summary import jobs_between, rates_over_time, summary_by_type
from jobtools.api.auth import AkSkCredentials, Credentials, TokenCredentials
from jobtools.api.options import Limits, Retries, Timeouts
from jobtools.errors import (
    AcceleratorNotBuiltWarning,
    ApiError,
    AuthenticationError,
    BadBodyError,
    BadFileError,
    BadRequestError,
    BodyTooLargeError,
    CertificateError,
    CorruptInputError,
    CorruptInputWarning,
    CredentialsError,
    CsvError,
    EncodingGuessWarning,
    ExposedSimulatorWarning,
    FetchConnectionError,
    FetchTimeout,
    ForbiddenError,
    InternalServerError,
    InvalidIdError,
    JobsError,
    MismatchedIdError,
    MissingColumnsError,
    NaiveTimeWarning,
    NearMissWarning,
    NoSuchApiError,
    NotFoundError,
    PlainHttpWarning,
    PollLogWarning,
    ProxyError,
    RejoinedIdWarning,
    ServerError,
    ServiceUnavailableError,
    ThrottledError,
    TransportError,
    UnexpectedStatusError,
)
from jobtools.frame import (
    FETCH_COLUMNS,
    JOB_COLUMNS,
    OUTCOMES,
    entities_of,
    jobs_to_frame,
    sub_jobs_to_frame,
)
from jobtools.ids import as_job_ids, extract_job_ids, job_id_time, job_ids_from_text
from jobtools.io import read_jobs, write_jobs
from jobtools.progress import ProgressEvent
from jobtools.schema import JobStatus, Outcome, WaitState
from jobtools.times import parse_job_time, parse_job_times
from jobtools.wait.options import Patience
from jobtools.wait.poll import (
    WAIT_COLUMNS,
    CancelToken,
    Snapshot,
    aiter_snapshots,
    iter_snapshots,
    wait_for,
    wait_for_async,
)
from jobtools.wait.polllog import PollLog, transitions
from jobtools.wait.schedule import Adaptive, Backoff

__version__ = "0.1.0"


def _bar(total: int | None, desc: str) -> _progress.OnProgress:
    # What `progress=True` shows: the front-end's bar, loaded (with tqdm) when first shown.
    import importlib

    display: _progress.Display = importlib.import_module("jobtools.views.bar").tqdm_display
    return display(total, desc)


# The core reports progress as events and never draws; the package plugs its bar in here.
_progress.set_display(_bar)

# Front-ends (widgets, plots, reports), the simulator (aiohttp.web) and the client (the HTTP
# stacks, aiohttp and httpx: ~40 % of the import otherwise) are loaded on first use, so that
# `import jobtools` stays light for offline analysis and the core never pulls them in.
_LAZY = {
    "FetchResult": "jobtools.api.client",
    "JobsClient": "jobtools.api.client",
    "fetch_jobs": "jobtools.api.client",
    "JobMonitor": "jobtools.views.monitor",
    "plot_durations": "jobtools.views.plots",
    "plot_failure_reasons": "jobtools.views.plots",
    "plot_rates": "jobtools.views.plots",
    "plot_status_counts": "jobtools.views.plots",
    "plot_timeline": "jobtools.views.plots",
    "style_table": "jobtools.views.tables",
    "write_report": "jobtools.report",
    "Faults": "jobtools.simulator",
    "ManualClock": "jobtools.simulator",
    "Simulator": "jobtools.simulator",
    "SimulatorServer": "jobtools.simulator",
    "read_jobs_dask": "jobtools.io.dask",  # needs the jobtools[dask] extra
}
if TYPE_CHECKING:
    from jobtools.api.client import FetchResult, JobsClient, fetch_jobs
    from jobtools.io.dask import read_jobs_dask
    from jobtools.report import write_report
    from jobtools.simulator import Faults, ManualClock, Simulator, SimulatorServer
    from jobtools.views.monitor import JobMonitor
    from jobtools.views.plots import (
        plot_durations,
        plot_failure_reasons,
        plot_rates,
        plot_status_counts,
        plot_timeline,
    )
    from jobtools.views.tables import style_table


# What to install when a name's optional dependency is missing.
_EXTRAS = {
    "read_jobs_dask": ("dask", ("dask", "distributed", "bokeh")),
    "JobMonitor": ("notebook", ("ipywidgets", "IPython")),
    "style_table": ("notebook", ("jinja2",)),
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        try:
            module = importlib.import_module(_LAZY[name])
        except ModuleNotFoundError as exc:
            extra, packages = _EXTRAS.get(name, ("", ()))
            if (exc.name or "").partition(".")[0] not in packages:
                raise
            raise ModuleNotFoundError(
                f"{name} needs {exc.name}, which is not installed: pip install 'jobtools[{extra}]'",
                name=exc.name,
            ) from None
        return getattr(module, name)
    raise AttributeError(f"module 'jobtools' has no attribute {name!r}")


__all__ = [
    "AcceleratorNotBuiltWarning",
    "Adaptive",
    "AkSkCredentials",
    "ApiError",
    "AuthenticationError",
    "Backoff",
    "BadBodyError",
    "BadFileError",
    "BadRequestError",
    "BodyTooLargeError",
    "CancelToken",
    "CertificateError",
    "CorruptInputError",
    "CorruptInputWarning",
    "Credentials",
    "CredentialsError",
    "CsvError",
    "EncodingGuessWarning",
    "ExposedSimulatorWarning",
    "FETCH_COLUMNS",
    "Faults",
    "FetchConnectionError",
    "FetchResult",
    "FetchTimeout",
    "Findings",
    "ForbiddenError",
    "InternalServerError",
    "InvalidIdError",
    "JOB_COLUMNS",
    "JobMonitor",
    "JobStatus",
    "JobsClient",
    "JobsError",
    "Limits",
    "ManualClock",
    "MismatchedIdError",
    "MissingColumnsError",
    "NaiveTimeWarning",
    "NearMissWarning",
    "NoSuchApiError",
    "NotFoundError",
    "OUTCOMES",
    "Outcome",
    "Patience",
    "PlainHttpWarning",
    "PollLog",
    "PollLogWarning",
    "ProgressEvent",
    "ProxyError",
    "RejoinedIdWarning",
    "Retries",
    "ServerError",
    "ServiceUnavailableError",
    "Simulator",
    "SimulatorServer",
    "Snapshot",
    "ThrottledError",
    "Timeouts",
    "TokenCredentials",
    "TransportError",
    "UnexpectedStatusError",
    "WAIT_COLUMNS",
    "WaitState",
    "__version__",
    "aiter_snapshots",
    "as_job_ids",
    "compare_failures",
    "entities_of",
    "extract_job_ids",
    "failure_groups",
    "failure_keys",
    "failure_rows",
    "fetch_jobs",
    "findings",
    "iter_snapshots",
    "job_id_time",
    "job_ids_from_text",
    "jobs_between",
    "jobs_to_frame",
    "message_templates",
    "parse_job_time",
    "parse_job_times",
    "plot_durations",
    "plot_failure_reasons",
    "plot_rates",
    "plot_status_counts",
    "plot_timeline",
    "rates_over_time",
    "read_jobs",
    "read_jobs_dask",
    "style_table",
    "sub_jobs_to_frame",
    "summary_by_type",
    "time_quality",
    "transitions",
    "wait_for",
    "wait_for_async",
    "write_jobs",
    "write_report",
]
