"""Where the client sends its requests: clouds, templates, the SDK's override lists, checks."""

from __future__ import annotations

import pytest

from jobtools.api.client import JobsClient
from jobtools.api.endpoints import (
    CLOUDS,
    resolve_endpoints,
    split_endpoints,
    validate_endpoint,
)
from jobtools.errors import PlainHttpWarning

PROJECT = "0123456789abcdef0123456789abcdef"


@pytest.mark.parametrize(
    ("cloud", "service", "region", "expected"),
    [
        (None, "ims", "cn-north-4", "https://ims.cn-north-4.myhuaweicloud.com"),
        ("huaweicloud-eu", "ecs", "eu-west-101", "https://ecs.eu-west-101.myhuaweicloud.eu"),
        ("otc", "ims", "eu-de", "https://ims.eu-de.otc.t-systems.com"),
        ("otc-swiss", "evs", "eu-ch2", "https://evs.eu-ch2.sc.otc.t-systems.com"),
        ("OTC", "IMS", "EU-NL", "https://ims.eu-nl.otc.t-systems.com"),
    ],
)
def test_clouds_name_their_hosts(cloud, service, region, expected):
    """Each cloud's template gives the documented host for a service and region."""
    got = resolve_endpoints(region=region, endpoint=None, service=service, cloud=cloud, environ={})
    assert got == (expected,)


def test_every_cloud_template_yields_a_valid_endpoint():
    """No template in CLOUDS is refused by the endpoint check."""
    for template in CLOUDS.values():
        assert validate_endpoint(template.format(service="ims", region="r-1"))


def test_endpoint_template():
    """An endpoint template takes {service} and {region}, and nothing else."""
    got = resolve_endpoints(
        region="x-1",
        endpoint=None,
        service="ims",
        endpoint_template="https://{service}-{region}.example.test/api",
        environ={},
    )
    assert got == ("https://ims-x-1.example.test/api",)
    for bad in ("https://{host}/", "https://fixed.example.test", "https://{region}/{0}"):
        with pytest.raises(ValueError, match="endpoint_template"):
            resolve_endpoints(
                region="x", endpoint=None, service="ims", endpoint_template=bad, environ={}
            )


def test_sdk_override_variable_may_hold_a_list():
    """HUAWEICLOUD_SDK_REGION_<SERVICE>_<REGION> wins, and may be comma-separated."""
    env = {"HUAWEICLOUD_SDK_REGION_ECS_EU_DE": " https://a.test/ , https://b.test:8443,, "}
    got = resolve_endpoints(region="eu-de", endpoint=None, service="ecs", cloud="otc", environ=env)
    assert got == ("https://a.test", "https://b.test:8443")


@pytest.mark.parametrize(
    "value",
    [
        "https://user:pa55word@ims.test",
        "https://ims.test/jobs/X#",
        "https://ims.test/#frag",
        "https://ims.test/?",
        "https://ims.test/?a=1",
        "ftp://ims.test",
        "ims.test",
        "https://",
        "https://ims.test:99999",
        "https://ims.test/a/../b",
        "https://ims.test/%2e%2e/",
        "https://ims.test/a b",
        "https://ims.tést",
        "https://ims.test\r\nX-Evil: 1",
    ],
)
def test_unsafe_endpoints_are_refused_without_echoing_a_password(value, monkeypatch):
    """User info, query, fragment, escapes, odd schemes and ports: refused, password hidden."""
    with pytest.raises(ValueError) as raised:
        validate_endpoint(value)
    assert "pa55word" not in str(raised.value)
    with pytest.raises(ValueError) as raised:
        JobsClient(endpoint=value, project_id=PROJECT, token="t0ken")
    assert "pa55word" not in str(raised.value)
    monkeypatch.setenv("HUAWEICLOUD_SDK_REGION_IMS_CN_NORTH_4", f"https://ok.test,{value}")
    with pytest.raises(ValueError, match="HUAWEICLOUD_SDK_REGION_IMS_CN_NORTH_4") as raised:
        JobsClient(region="cn-north-4", project_id=PROJECT, token="t0ken")
    assert "pa55word" not in str(raised.value)


@pytest.mark.parametrize("service", ["ims/", "ims.evil.com#", "", "a b", "ímś", "x" * 40])
def test_service_is_validated(service):
    """`service=` (and `--service`) must be a plain name: it becomes part of a host name."""
    with pytest.raises(ValueError, match="service"):
        JobsClient(region="cn-north-4", service=service, project_id=PROJECT, token="t0ken")


@pytest.mark.parametrize("region", ["cn-north-4/x", "cn.evil.com", "", "ｃｎ", "a?b"])
def test_region_is_validated(region):
    """`region=` must be a plain name too (`isalnum` would let other scripts through)."""
    with pytest.raises(ValueError):
        JobsClient(region=region, project_id=PROJECT, token="t0ken")


def test_endpoint_lists_and_path_prefixes_are_kept():
    """A list of endpoints is kept in order (no repeats); a path prefix stays."""
    assert split_endpoints(["http://a.test/gw/", "http://b.test", "http://a.test/gw"]) == (
        "http://a.test/gw",
        "http://b.test",
    )
    with pytest.warns(PlainHttpWarning, match="a.test"):  # a token over http:// elsewhere
        client = JobsClient(
            endpoint="http://a.test/gw, http://b.test", project_id=PROJECT, token="t"
        )
    assert client.endpoints == ("http://a.test/gw", "http://b.test")
    assert client.endpoint == "http://a.test/gw"
    with pytest.raises(ValueError, match="names no URL"):
        split_endpoints(" , ")


def test_cloud_and_template_exclude_each_other():
    """One way to name the hosts at a time; unknown clouds are named in the error."""
    with pytest.raises(ValueError, match="not both"):
        resolve_endpoints(
            region="r", endpoint=None, service="ims", cloud="otc", endpoint_template="{region}"
        )
    with pytest.raises(ValueError, match="otc-swiss"):
        resolve_endpoints(region="r", endpoint=None, service="ims", cloud="aws", environ={})
