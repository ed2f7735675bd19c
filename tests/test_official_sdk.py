"""The official Python SDK (huaweicloudsdkims) gets correct answers from the simulator.

Its `ImsClient` signs with its own signer and talks HTTP to the session's loopback server,
so these tests also prove that the simulator's signature check matches the real signer.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException, ServerResponseException
from huaweicloudsdkcore.http.http_config import HttpConfig
from huaweicloudsdkims.v2 import ImsClient, ShowJobProgressRequest, ShowJobRequest

from jobtools.simulator import Faults, read_records

SAMPLE = read_records(Path(__file__).resolve().parent.parent / "data" / "sample_jobs.jsonl")


def ims_client(live, *, sk: str | None = None) -> ImsClient:
    config = HttpConfig.get_default_config()
    config.timeout = (5, 10)  # connect, read: a loopback answer comes at once
    credentials = BasicCredentials(live.ak, sk or live.sk, live.project_id)
    return (
        ImsClient.new_builder()
        .with_credentials(credentials)
        .with_endpoints([live.url])
        .with_http_config(config)
        .build()
    )


@pytest.fixture(scope="module")
def sdk(simulator_server) -> ImsClient:
    return ims_client(simulator_server)


def show_job(client: ImsClient, job_id: str):
    # show_job is marked deprecated in the SDK (in favour of the progress call); it still works.
    with pytest.warns(DeprecationWarning, match="show_job"):
        return client.show_job(ShowJobRequest(job_id=job_id))


def _pick(status: str, time_format: str) -> dict:
    legacy = time_format == "legacy"
    return next(
        r
        for r in SAMPLE
        if r["status"] == status and (r["begin_time"][2] == "-") == legacy and r["entities"]
    )


@pytest.mark.parametrize("time_format", ["iso", "legacy"])
@pytest.mark.parametrize("status", ["SUCCESS", "FAIL"])
def test_show_job_matches_the_record(sdk, status, time_format):
    """show_job returns every top-level field of an ended sample job, both time formats."""
    record = _pick(status, time_format)
    response = show_job(sdk, record["job_id"])
    assert response.status_code == 200
    for field in ("status", "job_id", "job_type", "begin_time", "end_time"):
        assert getattr(response, field) == record[field]
    assert response.error_code == record["error_code"]
    assert response.fail_reason == record["fail_reason"]
    entities = response.entities.to_dict()
    for key, value in record["entities"].items():
        if key not in ("sub_jobs_result", "results"):
            assert entities[key] == value


def test_failed_job_fail_reason(sdk):
    """A failed job's fail_reason, error_code and entity error reach the SDK (Chinese too)."""
    failed = [r for r in SAMPLE if r["status"] == "FAIL"]
    chinese = next(r for r in failed if any("\u4e00" <= ch <= "\u9fff" for ch in r["fail_reason"]))
    for record in (failed[0], chinese):
        response = show_job(sdk, record["job_id"])
        assert response.status == "FAIL"
        assert response.fail_reason == record["fail_reason"]
        assert response.entities.error_code == record["error_code"]
        assert response.entities.error == record["entities"]["error"]


def test_running_job_and_progress_call(sdk, simulator_server):
    """A running job shows RUNNING with progress; the progress call adds subJobId."""
    job_id = simulator_server.simulator.add_job(
        init_for=0, run_for=3600, entities={"image_name": "sdk-test"}
    )
    running = show_job(sdk, job_id)
    assert (running.status, running.end_time) == ("RUNNING", "")
    assert isinstance(running.entities.process_percent, float)
    assert running.entities.current_task
    progress = sdk.show_job_progress(ShowJobProgressRequest(job_id=job_id))
    assert progress.status == "RUNNING"
    assert progress.entities.image_name == "sdk-test"
    assert len(progress.entities.sub_job_id) == 32


def test_unknown_job_is_a_client_error(sdk):
    """A 404 becomes the SDK's ClientRequestException with IMG.0023 and the request id."""
    with pytest.raises(ClientRequestException) as caught:
        show_job(sdk, "ff8080000000000000000000000000ff")
    error = caught.value
    assert (error.status_code, error.error_code) == (404, "IMG.0023")
    assert len(error.request_id) == 32


def test_wrong_secret_key_is_refused(simulator_server):
    """Signed with the wrong SK, the SDK gets 401 APIGW.0301 from the simulator's gateway."""
    client = ims_client(simulator_server, sk="not-the-secret")
    with pytest.raises(ClientRequestException) as caught:
        show_job(client, SAMPLE[0]["job_id"])
    assert (caught.value.status_code, caught.value.error_code) == (401, "APIGW.0301")


def test_server_error_is_a_server_exception(sdk, simulator_server):
    """An injected 503 becomes the SDK's ServerResponseException with the body's code."""
    faults = simulator_server.simulator.injecting(Faults(error_503=1.0))
    with faults, pytest.raises(ServerResponseException) as caught:
        show_job(sdk, SAMPLE[0]["job_id"])
    assert (caught.value.status_code, caught.value.error_code) == (503, "IMG.0503")
