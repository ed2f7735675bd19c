from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from jobtools import jobs_to_frame
from jobtools.analysis.failures import (
    _MASKS,
    COMPARE_COLUMNS,
    FAILURE_GROUP_COLUMNS,
    compare_failures,
    failure_groups,
    failure_keys,
    failure_rows,
    message_templates,
)


def job(job_id: str, status: str, reason: str | None = None, **fields: object) -> dict:
    """A job response with the fields these tests vary."""
    record: dict = {
        "job_id": job_id,
        "job_type": fields.pop("job_type", "imsImportImageJob"),
        "status": status,
        "begin_time": fields.pop("begin_time", "2024-11-01T10:00:00Z"),
        "end_time": fields.pop("end_time", "2024-11-01T10:05:00Z"),
        "error_code": fields.pop("error_code", "IMG.0106" if status == "FAIL" else None),
        "fail_reason": reason,
        "entities": fields.pop("entities", {}),
    }
    record.update(fields)
    return record


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (
            "Server e9e91bff-14b6-4a0b-8377-4ed0813e3360 is running; stop it first.",
            "Server 0a1b2c3d-0000-4a0b-8377-ffffffffffff is running; stop it first.",
        ),
        (
            "Image is locked by another job (ff8080814dbd65d7014dbe0d84db0013).",
            "Image is locked by another job (2c9e1b7a44f011efa6c1fa163e7c0a01).",
        ),
        (
            "The image file is 40 GB, larger than 1024 GB.",
            "The image file is 1.5 GiB, larger than 1024GB.",
        ),
        ("Quota: 50, used: 50.", "Quota: 200, used: 199."),
        (
            "Failed to download centos7-00042.vhdx from OBS bucket prod-images-07.",
            "Failed to download win2019-31337.raw.gz from OBS bucket golden-img-99.",
        ),
        ("Cannot read /var/lib/ims/tmp/a1/disk.qcow2 now", "Cannot read /mnt/x now"),
        ("Cannot read C:\\images\\disk.vmdk now", "Cannot read D:\\a\\b now"),
        ("Export to obs://bucket-a/exports/x.vhd failed", "Export to obs://b/y.qcow2 failed"),
        (
            "GET https://bkt.obs.cn-north-4.myhuaweicloud.com/a/b.zvhd2 failed",
            "GET https://other.obs.eu-west-0.myhuaweicloud.com/c.raw failed",
        ),
        ("No route to 10.0.0.12:8080 from host", "No route to 192.168.1.1 from host"),
        (
            "the image name centos7-web-001 already exists.",
            "the image name my_image already exists.",
        ),
        (
            "Insufficient resources in cn-north-4a for flavor s6.large.2",
            "Insufficient resources in af-south-1c for flavor c7.xlarge.4",
        ),
        ("No capacity for flavor s6.large.2 now", "No capacity for flavor s6.large.1234 now"),
        ("Image 'web server' cannot be shared", "Image 'db' cannot be shared"),
        ('Image "web" cannot be shared', 'Image "database one" cannot be shared'),
        ("Images a1b2, c3d4, e5f6 failed", "Images 9f9f failed"),
        (
            "磁盘 e9e91bff-14b6-4a0b-8377-4ed0813e3360 容量 40 GB 小于 100 GB。",
            "磁盘 0a1b2c3d-0000-4a0b-8377-ffffffffffff 容量 2048 GB 小于 40 GB。",
        ),
        ("镜像ecs-01创建失败，重试3次", "镜像web02创建失败，重试12次"),
        (
            "镜像文件 centos7-00042.vhdx 的格式不支持：qed。",
            "镜像文件 rocky9-00001.img.xz 的格式不支持：iso9660。",
        ),
        (
            "导出镜像到桶 ims-export-07 失败：没有写权限。",
            "导出镜像到桶 backup-bucket-93 失败：没有写权限。",
        ),
        ("导出镜像到桶“ims-export”失败", "导出镜像到桶“备份桶”失败"),
        ("镜像大小为40GB，超过限制", "镜像大小为512MB，超过限制"),
        ("任务ff8080814dbd65d7014dbe0d84db0013失败", "任务2c9e1b7a44f011efa6c1fa163e7c0a01失败"),
        (
            "云服务器e9e91bff-14b6-4a0b-8377-4ed0813e3360的磁盘1.5GiB太小",
            "云服务器0a1b2c3d-0000-4a0b-8377-ffffffffffff的磁盘200GB太小",
        ),
        ("在10.0.0.1上第3次重试", "在192.168.0.20上第12次重试"),
    ],
)
def test_messages_differing_only_in_values_share_a_template(first: str, second: str) -> None:
    """Messages that differ only in ids, sizes, paths, names or numbers get one template."""
    templates = message_templates([first, second])
    assert templates[0] == templates[1], templates.tolist()
    assert templates[0] != first


@pytest.mark.parametrize(
    ("message", "template"),
    [
        ("IMG.0023: job ff8080814dbd65d7014dbe0d84db0013 failed", "IMG.0023: job <id> failed"),
        ("IMG.0001,APIGW.0308 and Ecs.0005: x 7", "IMG.0001,APIGW.0308 and Ecs.0005: x <n>"),
        ("disk 40GB too small", "disk <size> too small"),
        ("5 Gbps link down", "<n> Gbps link down"),
        ("can't open 'x'", "can't open '<str>'"),
        ("镜像ecs-01创建失败，重试3次", "镜像<name>创建失败，重试<n>次"),
        ("ids: a1, b2, c3", "ids: <name>"),
        ("  spaced \t out\n", "spaced out"),
        ("The image quota is exceeded.", "The image quota is exceeded."),
        ("", ""),
    ],
)
def test_templates_read_as_expected(message: str, template: str) -> None:
    """Placeholders name what was masked; error codes and plain words stay as they are."""
    assert message_templates([message]).tolist() == [template]


def test_different_causes_keep_different_templates() -> None:
    """Masking does not merge messages whose words differ."""
    templates = message_templates(
        ["Quota exceeded: 5", "Network error: 5", "IMG.0015 failed", "IMG.0023 failed"]
    )
    assert templates.nunique() == 4


def test_missing_messages_stay_missing_and_index_is_kept() -> None:
    """None and NaN give NaN, and the result is aligned with the input Series."""
    messages = pd.Series(["a 1", None, "a 2"], index=[10, 20, 30], dtype="str")
    templates = message_templates(messages)
    assert templates.index.tolist() == [10, 20, 30]
    assert templates[10] == templates[30] == "a <n>"
    assert pd.isna(templates[20])


@pytest.mark.parametrize(("pattern", "replacement"), _MASKS)
def test_every_mask_runs_in_re2(pattern: str, replacement: str) -> None:
    """Each mask compiles in RE2 and avoids what makes pandas fall back to a Python loop."""
    pc.replace_substring_regex(pa.array(["镜像 a"]), pattern=pattern, replacement=replacement)
    # look-arounds, back-references and the Unicode-sensitive \d \w \s \b
    assert not re.search(r"\\[dDwWsSbB1-9]|\(\?<?[=!]", pattern)
    re.compile(pattern)  # and Python's re agrees, for any other string dtype


def sample_failures() -> pd.DataFrame:
    return jobs_to_frame(
        [
            job("j1", "FAIL", "Server aaaa1111 is running.", error_code="IMG.0117"),
            job("j2", "FAIL", "Server bbbb2222 is running.", error_code="IMG.0117",
                job_type="imsCreateImageByInstance", end_time="2024-11-02T00:00:00Z"),
            job("j3", "FAIL", "Server cccc3333 is running.", error_code="IMG.0117",
                begin_time="2024-10-29T23:00:00Z", end_time="2024-10-30T00:00:00Z"),
            job("j4", "FAIL", "镜像文件 a-1.vhd 的格式不支持：qed。", error_code="IMG.0050"),
            job("j5", "SUCCESS"),
            job("j6", "RUNNING", end_time=""),
            job("j7", "FAIL", None, error_code=None,
                entities={"error_code": "IMG.0090", "error": "导出镜像到桶 x-1 失败"}),
            job("j8", "FAIL", None, error_code=None),
        ]
    )  # fmt: skip


def test_failure_groups_counts_shares_and_columns() -> None:
    """Groups come biggest first with counts, shares of all failures and the documented columns."""
    groups = failure_groups(sample_failures())
    assert tuple(groups.columns) == FAILURE_GROUP_COLUMNS
    top = groups.iloc[0]
    assert (top["error_code"], top["template"], top["count"]) == (
        "IMG.0117",
        "Server <name> is running.",
        3,
    )
    assert top["share"] == pytest.approx(3 / 6)
    assert groups["count"].sum() == 6
    assert groups["share"].sum() == pytest.approx(1.0)
    # Both clocks, named: when its jobs began and when they ended.
    assert top["first_begun"] == pd.Timestamp("2024-10-29T23:00", tz="UTC")
    assert top["last_begun"] == pd.Timestamp("2024-11-01T10:00", tz="UTC")
    assert top["first_ended"] == pd.Timestamp("2024-10-30", tz="UTC")
    assert top["last_ended"] == pd.Timestamp("2024-11-02", tz="UTC")
    assert top["job_types"] == "imsCreateImageByInstance, imsImportImageJob"
    assert top["example_job_ids"] == "j2, j1, j3"
    for column in ("first_begun", "last_begun", "first_ended", "last_ended"):
        assert str(groups[column].dtype) == "datetime64[us, UTC]"


def test_failure_groups_fall_back_to_entities_and_keep_messageless_failures() -> None:
    """A FAIL with only entity-level error details uses them; one with none is still counted."""
    groups = failure_groups(sample_failures()).set_index("example_job_ids")
    assert groups.loc["j7", "error_code"] == "IMG.0090"
    assert groups.loc["j7", "template"] == "导出镜像到桶 <name> 失败"
    assert groups.loc["j8", "template"] == "(no message)"
    assert pd.isna(groups.loc["j8", "error_code"])


def test_failure_rows_lead_back_to_the_jobs() -> None:
    """The group key selects exactly the rows of that group, as a copy."""
    frame = sample_failures()
    groups = failure_groups(frame)
    rows = failure_rows(frame, groups["group"].iloc[0])
    assert sorted(rows["job_id"]) == ["j1", "j2", "j3"]
    both = failure_rows(frame, groups["group"].iloc[:2])
    assert len(both) == 4
    assert failure_rows(frame, "f-no-such-group").empty


def test_failure_keys_label_fail_rows_only() -> None:
    """Each FAIL row gets its group key, other rows get NaN; the caller's frame is untouched."""
    frame = sample_failures()
    before = frame.copy()
    keys = failure_keys(frame)
    fail = frame["status"].eq("FAIL").to_numpy()
    assert keys[fail].notna().all() and keys[~fail].isna().all()
    assert keys.index.equals(frame.index)
    pd.testing.assert_frame_equal(frame, before)


def test_group_keys_are_stable_across_frames() -> None:
    """The same code and template give the same key whatever else is in the frame."""
    one = failure_groups(jobs_to_frame([job("a", "FAIL", "disk 40 GB too small")]))
    two = failure_groups(
        jobs_to_frame([job("b", "FAIL", "other"), job("c", "FAIL", "disk 80 GB too small")])
    )
    assert one["group"].iloc[0] in set(two["group"])


@pytest.mark.parametrize(
    "records",
    [[], [job("s", "SUCCESS"), job("r", "RUNNING", end_time="")]],
    ids=["empty", "no-failures"],
)
def test_no_failures_give_an_empty_typed_frame(records: list) -> None:
    """Without FAIL rows the result is empty but has the documented columns and dtypes."""
    groups = failure_groups(jobs_to_frame(records))
    assert groups.empty
    assert tuple(groups.columns) == FAILURE_GROUP_COLUMNS
    assert str(groups["last_ended"].dtype) == "datetime64[us, UTC]"
    assert groups["count"].dtype == "int64"


def window(successes: int, fails: dict[str, int], prefix: str = "") -> pd.DataFrame:
    """`successes` SUCCESS jobs and, per cause, that many FAIL jobs (numbers in messages vary)."""
    records = [job(f"{prefix}ok-{i}", "SUCCESS") for i in range(successes)]
    records += [
        job(f"{prefix}{cause}-{i}", "FAIL", f"{cause} failed after {i} s", error_code="IMG.0001")
        for cause, count in fails.items()
        for i in range(count)
    ]
    return jobs_to_frame(records)


def trends(diff: pd.DataFrame) -> dict[str, str]:
    """Each group's trend, keyed by the first word of its template (the cause)."""
    causes = diff["template"].str.split().str[0]
    return dict(zip(causes, diff["trend"].astype(str), strict=True))


def test_compare_failures_halves_of_one_batch_are_steady() -> None:
    """Two random halves of one batch (about 11 % failing over eight causes) are all steady."""
    rng = np.random.default_rng(7)
    causes = ["quota", "network", "disk", "lock", "timeout", "format", "auth", "size"]
    weights = np.array([30, 20, 15, 10, 10, 8, 4, 3]) / 100
    n = 4000
    fails = rng.random(n) < 0.11
    cause = rng.choice(causes, size=n, p=weights)
    records = [
        job(f"j{i}", "FAIL", f"{cause[i]} failed after {i} s")
        if fails[i]
        else job(f"j{i}", "SUCCESS")
        for i in range(n)
    ]
    frame = jobs_to_frame(records)
    half = rng.permutation(n) < n // 2
    diff = compare_failures(frame[half], frame[~half])
    assert tuple(diff.columns) == COMPARE_COLUMNS
    assert set(diff["trend"].astype(str)) == {"steady"}
    assert diff["p_value"].between(0, 1).all()


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        # 1 % -> 5 % of comparable volumes
        ({"quota": 20}, {"quota": 100}, {"quota": "growing"}),
        ({"quota": 100}, {"quota": 20}, {"quota": "shrinking"}),
        ({"quota": 20}, {"quota": 20, "lock": 30}, {"quota": "steady", "lock": "new"}),
        ({"quota": 20, "lock": 30}, {"quota": 20}, {"quota": "steady", "lock": "gone"}),
        # Too few to tell, however it looks: 0 -> 3 is not "new".
        ({"quota": 20}, {"quota": 20, "lock": 3}, {"quota": "steady", "lock": "steady"}),
        # 9 -> 20 while another cause explodes: by share it "shrank", by rate it is no change
        # the test can tell from chance, and the other one grew.
        (
            {"quota": 9, "disk": 10},
            {"quota": 20, "disk": 200},
            {"quota": "steady", "disk": "growing"},
        ),
    ],
)
def test_compare_failures_labels_only_changes_that_pass_the_test(
    before: dict[str, int], after: dict[str, int], expected: dict[str, str]
) -> None:
    """Rates per ended job, Fisher's exact test and Holm: labels follow real changes only."""
    diff = compare_failures(
        window(2000 - sum(before.values()), before), window(2000 - sum(after.values()), after)
    )
    assert trends(diff) == expected
    changed = diff[diff["trend"].astype(str) != "steady"]
    assert (changed["p_adjusted"] < 0.05).all()


def test_compare_failures_shows_counts_rates_and_each_windows_failure_rate() -> None:
    """Counts, per-job rates and their ratio are in the frame; attrs hold each window's rate."""
    diff = compare_failures(window(980, {"quota": 20}), window(1900, {"quota": 100}))
    row = diff.iloc[0]
    assert (row["count_before"], row["count_after"]) == (20, 100)
    assert row["rate_before"] == pytest.approx(0.02)
    assert row["rate_after"] == pytest.approx(0.05)
    assert row["rate_ratio"] == pytest.approx(2.5)
    windows = diff.attrs["windows"]
    assert windows["before"] == {"ended": 1000, "fail": 20, "failure_rate": pytest.approx(0.02)}
    assert windows["after"]["ended"] == 2000
    assert windows["p_value"] < 0.001


def test_compare_failures_refuses_group_frames_and_handles_empty_windows() -> None:
    """Group frames lack the ended jobs the rates need: a clear error; empty windows compare."""
    groups = failure_groups(window(10, {"quota": 3}))
    with pytest.raises(ValueError, match="needs a job frame"):
        compare_failures(groups, groups)
    empty = compare_failures(window(0, {}), window(0, {}))
    assert empty.empty and tuple(empty.columns) == COMPARE_COLUMNS


def test_compare_failures_of_dask_frames_is_the_pandas_result() -> None:
    """Dask windows give the same labels, counts, rates and p-values as pandas ones."""
    dd = pytest.importorskip("dask.dataframe")
    before, after = window(1980, {"quota": 20}), window(1900, {"quota": 100})
    expected = compare_failures(before, after)
    lazy = compare_failures(dd.from_pandas(before, npartitions=2), after)
    pd.testing.assert_frame_equal(lazy, expected)
    assert lazy.attrs["windows"] == expected.attrs["windows"]


# --- masking many distinct messages -----------------------------------------------------


def _reference_template(message: str) -> str:
    """The masks applied one by one with Python's re, row by row: the plain meaning."""
    from jobtools.analysis.failures import _LISTS, _SPACES

    for pattern, replacement in _MASKS + _LISTS + _SPACES:
        message = re.sub(pattern, replacement, message)
    return message.strip()


def _odd_messages(n: int, seed: int) -> list[str]:
    """Messages made of pieces that every mask (and the searches before them) must handle."""
    rng = np.random.default_rng(seed)
    pieces = [
        '"quoted 1"', "'single x'", "can't", "“curly”", "‘single’", "「框 2」", "『书』",
        "http://host/x?a=1", "obs://bucket/key.vhd", "b-1.obs.cn-north-4.example.com/k",
        "IMG.0061", "APIGW.0308", "e9e91bff-14b6-4a0b-8377-4ed0813e3360",
        "ff8080814dbd65d7014dbe0d84db0013", "10.0.0.1:8080", "C:\\tmp\\a.raw", "/var/lib/x",
        "disk.vhd", "qcow2", "40GB", "1.5 GiB", "bucket my-bucket", "镜像 ecs-01", "web-01",
        "3.9999999999999996", "1,024", "<id>, <id>", "  ", "\t", "磁盘", "容量", "\x1f", "x",
    ]  # fmt: skip
    count = rng.integers(1, 7, size=n)
    chosen = rng.integers(0, len(pieces), size=int(count.sum()))
    numbers = rng.integers(0, 10**6, size=n)
    out, at = [], 0
    for i, k in enumerate(count.tolist()):
        out.append(" ".join(pieces[j] for j in chosen[at : at + k]) + f" {numbers[i]}")
        at += k
    return out


def test_many_distinct_messages_get_the_templates_of_one_by_one_masking(monkeypatch) -> None:
    """Masked in slices on threads, searched before masked and de-duplicated after every
    mask, a large batch gets exactly the templates of the masks applied one message at a time."""
    import jobtools.analysis.failures as failures

    monkeypatch.setattr(failures, "_PER_THREAD", 1_000)  # several threads on a small batch
    monkeypatch.setattr(failures, "_THREADS", 3)
    messages = _odd_messages(6_000, seed=3)
    expected = [_reference_template(m) for m in messages]
    assert message_templates(messages).tolist() == expected


def test_a_message_and_its_template_agree_wherever_it_is_masked() -> None:
    """The same message gets the same template alone, in any batch and in any order, so one
    message never lands in two groups (the IMG.0061 report: one group per code and template)."""
    from jobtools.sample import generate_jobs

    frame = jobs_to_frame(generate_jobs(1_500, seed=11))
    failed = frame[frame["status"].astype("str").eq("FAIL")]
    messages = failed["fail_reason"].dropna().tolist()
    batch = message_templates(messages).tolist()
    reversed_batch = message_templates(messages[::-1]).tolist()[::-1]
    alone = [message_templates([m]).tolist()[0] for m in messages[:200]]
    assert batch == reversed_batch and batch[:200] == alone
    groups = failure_groups(frame)
    assert groups["error_code"].is_unique, groups[["error_code", "template"]]
    keys = failure_keys(frame)
    templates = message_templates(frame["fail_reason"])
    for key, template in zip(groups["group"], groups["template"], strict=True):
        assert set(templates[keys.eq(key).fillna(False)]) == {template}


def test_groups_count_every_failure_once_with_categorical_reasons() -> None:
    """A categorical fail_reason (as some readers give) groups as its text does."""
    frame = sample_failures()
    as_category = frame.assign(fail_reason=frame["fail_reason"].astype("category"))
    pd.testing.assert_frame_equal(failure_groups(as_category), failure_groups(frame))


def test_compare_failures_at_a_groups_first_begun_labels_it_new() -> None:
    """Split on the begin clock at a group's first_begun: all of it after, so it is "new".

    Its first job began at 10:00 and ended at 12:00; split at first_ended instead (the old
    end-time first_seen), that job would be before the split and the group "growing".
    """
    dd = pytest.importorskip("dask.dataframe")
    records = [
        job(f"s{i}", "SUCCESS", begin_time=f"2024-11-01T{8 + i // 60:02d}:{i % 60:02d}:00Z")
        for i in range(240)
    ]
    records += [
        job(f"f{i}", "FAIL", f"OBS bucket b-{i} key disabled", error_code="IMG.0188",
            begin_time=f"2024-11-01T{10 + i // 6:02d}:{i % 6 * 10:02d}:00Z",
            end_time=f"2024-11-01T{12 + i // 6:02d}:{i % 6 * 10:02d}:00Z")
        for i in range(12)
    ]  # fmt: skip
    frame = jobs_to_frame(records)
    group = failure_groups(frame).iloc[0]
    assert group["first_begun"] == pd.Timestamp("2024-11-01T10:00", tz="UTC")
    assert group["first_ended"] == pd.Timestamp("2024-11-01T12:00", tz="UTC")
    at_begun = compare_failures(frame, at=group["first_begun"])
    assert at_begun.iloc[0]["trend"] == "new" and at_begun.iloc[0]["count_before"] == 0
    assert compare_failures(frame, at="2024-11-01T10:00:00").iloc[0]["trend"] == "new"
    lazy = compare_failures(dd.from_pandas(frame, npartitions=3), at=group["first_begun"])
    pd.testing.assert_frame_equal(lazy, at_begun)
    with pytest.raises(ValueError, match="not both"):
        compare_failures(frame)
