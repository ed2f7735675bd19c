"""Credentials and SDK-HMAC-SHA256 signing."""

from __future__ import annotations

import datetime as dt

import pytest

from jobtools.api import auth
from jobtools.api.auth import AkSkCredentials, Credentials, TokenCredentials

KNOWN_URL = "https://service.endpoint.myhuaweicloud.com/resources?size=1"
KNOWN_SIGNATURE = "cfb4171acec81de07d50e53d57eb77edd537414d66ddb1d7d780f128e12cd842"


def test_known_answer_signature():
    """The official SDK's own known answer is reproduced, and `_` headers stay unsigned."""
    headers = auth.sign(
        "GET",
        KNOWN_URL,
        ak="AccessKey",
        sk="SecretKey",
        headers={"X-Sdk-Date": "20200608T023900Z", "TEST_UNDERSCORE": "value"},
    )
    assert headers["Authorization"] == (
        "SDK-HMAC-SHA256 Access=AccessKey, SignedHeaders=host;x-sdk-date, "
        f"Signature={KNOWN_SIGNATURE}"
    )
    assert headers["Host"] == "service.endpoint.myhuaweicloud.com"


def test_compute_signature_known_answer():
    """compute_signature gives the known answer from its parts."""
    names, signature = auth.compute_signature(
        "SecretKey",
        "GET",
        "/resources",
        {"size": 1},
        {"Host": "service.endpoint.myhuaweicloud.com", "TEST_UNDERSCORE": "x"},
        b"",
        "20200608T023900Z",
    )
    assert (names, signature) == ("host;x-sdk-date", KNOWN_SIGNATURE)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/v1/p/jobs/abc", "/v1/p/jobs/abc/"),
        ("/resources/", "/resources/"),
        ("/", "/"),
        ("/a b/c~d", "/a%20b/c~d/"),
        ("/a%20b", "/a%20b/"),
    ],
)
def test_canonical_uri(path, expected):
    """Each segment is percent-encoded (`~` safe) and a trailing `/` is always added."""
    assert auth.canonical_uri(path) == expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (None, ""),
        ("", ""),
        ("size=1", "size=1"),
        ("b=2&a=1", "a=1&b=2"),
        ({"b": "x y", "a": True}, "a=true&b=x%20y"),
        ([("k", ["2", "1"])], "k=1&k=2"),
    ],
)
def test_canonical_query(query, expected):
    """Parameters are sorted by key and percent-encoded."""
    assert auth.canonical_query(query) == expected


def test_canonical_request_layout():
    """The canonical request has the six documented parts, headers followed by an empty line."""
    text = auth.canonical_request(
        "get",
        "/v1/p/jobs/j",
        None,
        {"Host": "h", "X-Sdk-Date": " 20200608T023900Z "},
        "host;x-sdk-date",
        b"",
    )
    assert text.split("\n") == [
        "GET",
        "/v1/p/jobs/j/",
        "",
        "host:h",
        "x-sdk-date:20200608T023900Z",
        "",
        "host;x-sdk-date",
        auth.EMPTY_BODY_SHA256,
    ]


def test_canonical_request_missing_signed_header():
    """A signed header absent from the request is a ValueError, not a KeyError."""
    with pytest.raises(ValueError, match="x-project-id"):
        auth.canonical_request("GET", "/", None, {"Host": "h"}, "host;x-project-id", b"")


def test_string_to_sign():
    """The string to sign is algorithm, date and the hex digest of the canonical request."""
    assert auth.string_to_sign("D", "C").split("\n")[:2] == ["SDK-HMAC-SHA256", "D"]


def test_security_token_is_sent_and_signed():
    """A temporary credential's security token is sent and listed in SignedHeaders."""
    creds = AkSkCredentials(ak="AK", sk="SK", security_token="STS-TOKEN")
    headers = creds.auth_headers(
        "GET", "http://127.0.0.1:8080/v1/p/jobs/j", now=dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    )
    assert headers["X-Security-Token"] == "STS-TOKEN"
    assert headers["X-Sdk-Date"] == "20240101T000000Z"
    assert headers["Host"] == "127.0.0.1:8080"
    _, signed, _ = auth.parse_authorization(headers["Authorization"])
    assert signed == "host;x-sdk-date;x-security-token"


def _sdk_signature(method, url, headers):
    """Sign with the official SDK's Signer, for comparison."""
    from urllib.parse import parse_qsl, urlsplit

    from huaweicloudsdkcore.auth.credentials import BasicCredentials
    from huaweicloudsdkcore.sdk_request import SdkRequest
    from huaweicloudsdkcore.signer.signer import Signer

    parts = urlsplit(url)
    request = SdkRequest(
        method=method,
        schema=parts.scheme,
        host=parts.netloc,
        resource_path=parts.path,
        query_params=parse_qsl(parts.query),
        header_params=dict(headers),
        body="",
    )
    Signer(BasicCredentials("AK", "SK")).sign(request)
    return request.header_params["Authorization"]


@pytest.mark.parametrize(
    "url",
    [
        "https://ims.cn-north-4.myhuaweicloud.com/v1/0123abcd/jobs/ff8080814dbd65d7014dbe0d84db0013",
        "http://127.0.0.1:18080/v1/cloudimages/job/4010a32c-1d2c-4a2b-9b8e-6e3c5b0a1f00",
        "https://h.example/resources?size=1&marker=a%20b&limit=10",
    ],
)
def test_matches_official_sdk_signer(url):
    """Our signature equals the official SDK's for the headers its client sends on a GET."""
    headers = {
        "X-Sdk-Date": "20240102T030405Z",
        "X-Project-Id": "0123abcd",
        "User-Agent": "huaweicloud-usdk-python/3.0",
        "Content-Type": "application/json",
        "X-Security-Token": "tok",
    }
    ours = auth.sign("GET", url, ak="AK", sk="SK", headers=headers)["Authorization"]
    assert ours == _sdk_signature("GET", url, headers)


def test_verify_signature_round_trip():
    """A verifier accepts what sign() produced, even with extra unsigned headers added later."""
    sent = auth.sign("GET", "http://h:1/v1/p/jobs/j", ak="AK", sk="SK")
    received = {k.lower(): v for k, v in sent.items()} | {"accept": "*/*", "connection": "close"}
    access, signed, signature = auth.parse_authorization(received["authorization"])
    assert access == "AK"
    assert auth.verify_signature("SK", "GET", "/v1/p/jobs/j", "", received, b"", signed, signature)
    assert not auth.verify_signature(
        "WRONG", "GET", "/v1/p/jobs/j", "", received, b"", signed, signature
    )
    assert not auth.verify_signature(
        "SK", "GET", "/v1/p/jobs/other", "", received, b"", signed, signature
    )


@pytest.mark.parametrize(
    "header",
    ["", "Bearer x", "SDK-HMAC-SHA256 Access=AK", "SDK-HMAC-SHA256 Access=AK, Signature=ab"],
)
def test_parse_authorization_rejects(header):
    """Anything but a full SDK-HMAC-SHA256 authorization is a ValueError."""
    with pytest.raises(ValueError):
        auth.parse_authorization(header)


def test_sdk_date_round_trip():
    """format_sdk_date and parse_sdk_date agree, in UTC."""
    moment = dt.datetime(2020, 6, 8, 10, 39, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    assert auth.format_sdk_date(moment) == "20200608T023900Z"
    assert auth.parse_sdk_date("20200608T023900Z") == moment


@pytest.mark.parametrize(
    ("env", "kind"),
    [
        ({"HUAWEICLOUD_SDK_AK": "AK", "HUAWEICLOUD_SDK_SK": "SK"}, AkSkCredentials),
        ({"JOBTOOLS_AUTH_TOKEN": "tok"}, TokenCredentials),
        (
            {"HUAWEICLOUD_SDK_AK": "AK", "HUAWEICLOUD_SDK_SK": "SK", "JOBTOOLS_AUTH_TOKEN": "t"},
            AkSkCredentials,
        ),
    ],
)
def test_from_env(env, kind):
    """The official SDK's variables give AK/SK credentials; a token is the fallback."""
    assert isinstance(Credentials.from_env(env), kind)


def test_from_env_reads_every_variable():
    """Security token and project id come from the environment too."""
    creds = Credentials.from_env(
        {
            "HUAWEICLOUD_SDK_AK": "AK",
            "HUAWEICLOUD_SDK_SK": "SK",
            "HUAWEICLOUD_SDK_SECURITY_TOKEN": "STS",
            "HUAWEICLOUD_SDK_PROJECT_ID": "proj",
        }
    )
    assert creds == AkSkCredentials(ak="AK", sk="SK", security_token="STS", project_id="proj")


@pytest.mark.parametrize(
    ("env", "match"),
    [
        ({}, "no credentials"),
        ({"HUAWEICLOUD_SDK_AK": "AK"}, "HUAWEICLOUD_SDK_SK is not set"),
        ({"HUAWEICLOUD_SDK_SK": "secret-value"}, "HUAWEICLOUD_SDK_AK is not set"),
    ],
)
def test_from_env_missing(env, match):
    """Missing variables are named; values never are."""
    with pytest.raises(ValueError, match=match) as info:
        Credentials.from_env(env)
    assert "secret-value" not in str(info.value)


@pytest.mark.parametrize(
    "creds",
    [
        AkSkCredentials(ak="AKIDEXAMPLE123456", sk="SUPERSECRETKEY", security_token="STSSECRET"),
        TokenCredentials(token="SUPERSECRETTOKEN"),
    ],
)
def test_repr_hides_secrets(creds):
    """Neither repr nor str shows a secret key, token or security token."""
    for text in (repr(creds), str(creds), f"{creds}"):
        assert "SUPERSECRET" not in text
        assert "STSSECRET" not in text
        assert "AKIDEXAMPLE123456" not in text


@pytest.mark.parametrize(
    "kwargs",
    [
        {"ak": "", "sk": "x"},
        {"ak": "x", "sk": " "},
        {"ak": "x", "sk": ""},
        {"ak": "x", "sk": "SECRET\r\nX-Evil: 1"},
        {"ak": "x", "sk": "y", "security_token": "SECRET\n"},
        {"ak": "x", "sk": "SECRET\u00e9"},
    ],
)
def test_bad_keys_rejected(kwargs):
    """Empty keys, or keys that could break a header, are refused without being echoed."""
    with pytest.raises(ValueError) as info:
        AkSkCredentials(**kwargs)
    assert "SECRET" not in str(info.value)


@pytest.mark.parametrize("token", ["", "  ", "SECRET\r\nHost: evil", "SECRET\x00"])
def test_bad_tokens_rejected(token):
    """A token that is empty or holds control characters is refused, not echoed."""
    with pytest.raises(ValueError) as info:
        TokenCredentials(token=token)
    assert "SECRET" not in str(info.value)


def test_token_headers():
    """Token credentials add X-Auth-Token and keep the caller's headers."""
    headers = TokenCredentials(token="t").auth_headers("GET", "http://h/", {"A": "1"})
    assert headers == {"A": "1", "X-Auth-Token": "t"}
