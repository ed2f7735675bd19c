"""The official Python SDKs (huaweicloudsdkims, -ecs, -evs, -bms, -eip) read the simulator.

Its `ImsClient` signs with its own signer and talks HTTP to the session's loopback server,
so these tests also prove that the simulator's signature check matches the real signer.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from conftest import SEED
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException, ServerResponseException
from huaweicloudsdkcore.http.http_config import HttpConfig
from huaweicloudsdkims.v2 import ImsClient, ShowJobProgressRequest, ShowJobRequest

from jobtools.simulator import Faults, read_records

SAMPLE = read_records(
    Path(__file__).resolve().parent.parent / "jobtools" / "data" / "sample_jobs.jsonl.gz"
)


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
    """An unknown job (400 IMG.0023, as documented) becomes the SDK's ClientRequestException
    with IMG.0023 and the request id."""
    with pytest.raises(ClientRequestException) as caught:
        show_job(sdk, "ff8080000000000000000000000000ff")
    error = caught.value
    assert (error.status_code, error.error_code) == (400, "IMG.0023")
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
    assert (caught.value.status_code, caught.value.error_code) == (503, "APIGW.0613")


# --- ECS, EVS, BMS and EIP: their own SDK clients read the simulator's entity shapes --------


def _client(builder, live):
    config = HttpConfig.get_default_config()
    config.timeout = (5, 10)
    credentials = BasicCredentials(live.ak, live.sk, live.project_id)
    return (
        builder.new_builder()
        .with_credentials(credentials)
        .with_endpoints([live.url])
        .with_http_config(config)
        .build()
    )


def _ended(live, **options) -> str:
    """A new job of the session's simulator that has ended (it runs on the real clock: 1 ms)."""
    job_id = live.simulator.add_job(init_for=0, run_for=0.001, **options)
    while live.simulator.record(job_id)["status"] not in ("SUCCESS", "FAIL"):
        time.sleep(0.01)
    return job_id


def test_ecs_sdk_reads_sub_jobs_and_their_error(simulator_server):
    """EcsClient.show_job parses a failed ECS job: sub_jobs with errorcode_message."""
    from huaweicloudsdkecs.v2 import EcsClient
    from huaweicloudsdkecs.v2 import ShowJobRequest as EcsShowJob

    job_id = _ended(simulator_server, service="ecs", status="FAIL")
    response = _client(EcsClient, simulator_server).show_job(EcsShowJob(job_id=job_id))
    record = simulator_server.simulator.record(job_id)
    assert (response.status, response.job_type) == ("FAIL", "createServer")
    assert response.entities.sub_jobs_total == len(response.entities.sub_jobs) >= 1
    failed = response.entities.sub_jobs[0]
    assert failed.status == "FAIL" and failed.entities.errorcode_message == record["fail_reason"]
    assert failed.job_type == "createSingleServer" and len(failed.job_id) == 32


def test_ecs_sdk_reads_pending_payment(simulator_server):
    """An unpaid yearly/monthly order reads PENDING_PAYMENT through EcsClient."""
    from huaweicloudsdkecs.v2 import EcsClient
    from huaweicloudsdkecs.v2 import ShowJobRequest as EcsShowJob

    job_id = simulator_server.simulator.add_job(service="ecs", pending_payment=True)
    response = _client(EcsClient, simulator_server).show_job(EcsShowJob(job_id=job_id))
    assert (response.status, response.end_time) == ("PENDING_PAYMENT", "")


def test_evs_sdk_reads_the_volume(simulator_server):
    """EvsClient.show_job parses an EVS job's volume_id, volume_type, size and name."""
    from huaweicloudsdkevs.v2 import EvsClient
    from huaweicloudsdkevs.v2 import ShowJobRequest as EvsShowJob

    job_id = _ended(simulator_server, service="evs", status="SUCCESS")
    response = _client(EvsClient, simulator_server).show_job(EvsShowJob(job_id=job_id))
    entities = simulator_server.simulator.record(job_id)["entities"]
    assert response.status == "SUCCESS"
    assert response.entities.volume_id == entities["volume_id"] and response.entities.size > 0
    assert response.entities.volume_type and response.entities.name


def test_bms_sdk_reads_sub_jobs(simulator_server):
    """BmsClient.show_job_infos parses a BMS job's sub-jobs and their server ids."""
    from huaweicloudsdkbms.v1 import BmsClient, ShowJobInfosRequest

    job_id = _ended(simulator_server, service="bms", status="SUCCESS")
    response = _client(BmsClient, simulator_server).show_job_infos(
        ShowJobInfosRequest(job_id=job_id)
    )
    assert (response.status, response.job_type) == ("SUCCESS", "baremetalBatchCreate")
    assert response.entities.sub_jobs_total == len(response.entities.sub_jobs)
    assert all(len(sub.entities.server_id) == 36 for sub in response.entities.sub_jobs)


def test_eip_sdk_reads_sub_jobs(simulator_server):
    """EipClient.show_resources_job_detail parses an EIP job's entities as sub_jobs."""
    from huaweicloudsdkeip.v2 import EipClient, ShowResourcesJobDetailRequest

    job_id = _ended(simulator_server, service="vpc", status="SUCCESS")
    response = _client(EipClient, simulator_server).show_resources_job_detail(
        ShowResourcesJobDetailRequest(job_id=job_id)
    )
    assert response.status == "SUCCESS"
    assert response.entities.sub_jobs and "publicip_id" in response.entities.sub_jobs[0]["entities"]


@pytest.mark.parametrize(
    ("faults", "exception", "status", "code"),
    [
        (Faults(overloaded=1.0), ServerResponseException, 503, "Common.1503"),
        # The SDK mounts urllib3's Retry(total=retry_times, default 0, status_forcelist=[429]):
        # a 429 becomes a RetryError, reported as status 429 with error_code "429", no body.
        (Faults(throttle=1.0), ClientRequestException, 429, "429"),
    ],
)
def test_throttling_shapes_reach_the_sdk(sdk, simulator_server, faults, exception, status, code):
    """Each throttling shape reaches the official SDK with its status (and code, but 429's)."""
    with simulator_server.simulator.injecting(faults), pytest.raises(exception) as caught:
        show_job(sdk, SAMPLE[0]["job_id"])
    assert (caught.value.status_code, caught.value.error_code) == (status, code)


def test_flow_limit_is_a_202_the_sdk_takes_for_an_answer(sdk, simulator_server):
    """ECS's Common.0024 comes as HTTP 202, as documented: the SDK raises nothing and reads a
    job with no status (which is why jobtools reads the code of every non-200 2xx first)."""
    with simulator_server.simulator.injecting(Faults(flow_limit=1.0)):
        response = show_job(sdk, SAMPLE[0]["job_id"])
    assert response.status is None and response.job_id is None


def test_seed_example_through_the_sdk(simulator_server, sdk):
    """The seed's own record is served and read back exactly, its legacy time untouched."""
    seed = dict(SEED)
    if seed["job_id"] not in simulator_server.simulator.job_ids:
        simulator_server.simulator.add_jobs([seed])
    response = show_job(sdk, seed["job_id"])
    assert (response.begin_time, response.entities.image_id) == (
        seed["begin_time"],
        seed["entities"]["image_id"],
    )
