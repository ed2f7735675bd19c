"""Tests for jobtools.schema: the one table of columns, its enums, and what derives from it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from jobtools import jobs_to_frame
from jobtools.schema import (
    COLUMNS,
    FETCH_COLUMNS,
    JOB_COLUMNS,
    WAIT_COLUMNS,
    JobStatus,
    WaitState,
    cast_frame,
    categorical,
    empty_frame,
    markdown_table,
)

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_frame_table_is_the_schema():
    """The README's frame table is the schema's, row for row."""
    text = README.read_text(encoding="utf-8")
    start = text.index("<!-- schema table: jobtools.schema.markdown_table() -->")
    end = text.index("<!-- end of schema table -->")
    assert text[start:end].split("\n", 1)[1].strip() == markdown_table()


def test_names_are_unique_and_groups_in_frame_order():
    """Every column once; job columns, then fetch, then wait."""
    names = [c.name for c in COLUMNS]
    assert len(names) == len(set(names))
    assert names == [*JOB_COLUMNS, *FETCH_COLUMNS, *WAIT_COLUMNS]


@pytest.mark.parametrize("groups", [(), ("job",), ("job", "fetch")])
def test_empty_frame_has_the_contract_dtypes(groups):
    """The empty frame (a Dask meta) has each column's dtype."""
    frame = empty_frame(*groups)
    for c in COLUMNS:
        if c.name in frame:
            assert str(frame[c.name].dtype) == c.dtype, c.name
    assert list(frame.columns)[: len(JOB_COLUMNS)] == list(JOB_COLUMNS)


def test_jobs_to_frame_follows_the_table():
    """A frame from records has exactly the job columns, with the table's dtypes."""
    frame = jobs_to_frame([{"job_id": "j1", "status": "RUNNING"}])
    assert {name: str(dtype) for name, dtype in frame.dtypes.items()} == JOB_COLUMNS


def test_categories_keep_unknown_values_in_order():
    """Documented values first, then unknown ones in order of appearance; None is missing."""
    cat = categorical(["X", "FAIL", None, "INIT", "A"], tuple(JobStatus))
    assert list(cat.categories) == [*JobStatus, "X", "A"]
    assert pd.isna(cat[2])


def test_cast_frame_recategorises_concatenated_frames():
    """Frames with different unknown categories concatenate back to the contract."""
    a = jobs_to_frame([{"job_id": "a", "status": "X", "job_type": "t1"}])
    b = jobs_to_frame([{"job_id": "b", "status": "Y", "job_type": "t2"}])
    both = cast_frame(pd.concat([a, b], ignore_index=True))
    assert list(both["status"].cat.categories) == [*JobStatus, "X", "Y"]
    assert both["job_type"].tolist() == ["t1", "t2"]


@pytest.mark.parametrize(
    ("state", "final", "resumable", "ended"),
    [
        (WaitState.WAITING, False, True, False),
        (WaitState.DONE, True, False, True),
        (WaitState.GONE, True, False, True),
        (WaitState.GAVE_UP, False, True, True),
        (WaitState.TIMED_OUT, False, True, True),
        (WaitState.CANCELLED, False, True, True),
    ],
)
def test_wait_state_predicates(state, final, resumable, ended):
    """Final states are taken from the log on resume; the others are asked again."""
    assert (state.is_final, state.is_resumable, state.is_ended) == (final, resumable, ended)


def test_terminal_statuses():
    """SUCCESS and FAIL are terminal; PENDING_PAYMENT and unknown values are not."""
    assert {s for s in JobStatus if s.is_terminal} == {JobStatus.SUCCESS, JobStatus.FAIL}


@pytest.mark.parametrize(
    ("function", "needs"),
    [
        ("summary_by_type", "duration"),
        ("rates_over_time", "end_time"),
        ("time_quality", "end_time"),
    ],
)
def test_analysis_names_the_columns_it_lacks(function, needs):
    """An analysis function given a frame without a column it needs says which, by name."""
    import pickle

    import jobtools
    from jobtools.schema import MissingColumnsError

    frame = jobs_to_frame([{"job_id": "j1", "status": "SUCCESS"}]).drop(columns=[needs])
    with pytest.raises(MissingColumnsError, match=rf"{function} needs the column\(s\) {needs}"):
        getattr(jobtools, function)(frame)
    assert pickle.loads(pickle.dumps(MissingColumnsError(function, (needs,)))).missing == (needs,)
