"""The Cloudflare API client against ``httpx.MockTransport``: request shapes, result parsing, the error boundary,
the retry policy, and that the API token never leaks."""

from __future__ import annotations

import copy
import io
import json
import logging
import pickle
import string
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from typing import Any

import httpx
import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

import origin_tls.cloudflare as cloudflare_module
from origin_tls.baseline import SslMode
from origin_tls.cloudflare import DEFAULT_API_URL, CloudflareClient, RateBudget, parse_expires_on
from origin_tls.errors import (
    AuthenticationError,
    CloudflareError,
    InvalidInput,
    NotFoundError,
    RateLimitedError,
    ResponseError,
    ServerError,
    TransportError,
)

ZONE = "023e105f4ecef8ad9ca31a8372d0c353"
TOKEN = "cf-test-token-Zq8v3Lw0Xk2N7pRt5Ys9"
BASE = DEFAULT_API_URL
ORIGIN_CERT_ID = "328578533902268680212849205732770752308931942346"


# ----------------------------------------------------------------------------------------------------------------
# Fixtures: a recording fake API


def envelope(result: Any = None, *, success: bool = True, errors: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"success": success, "errors": errors or [], "messages": []}
    if result is not ...:
        body["result"] = result
    return body


def ok(result: Any) -> httpx.Response:
    return httpx.Response(200, json=envelope(result))


Answer = httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]


@dataclass
class FakeApi:
    """Answers in order (the last one repeats), records every request."""

    answers: list[Answer]
    requests: list[httpx.Request] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        if callable(answer):
            return answer(request)
        return answer

    def body(self, index: int = -1) -> Any:
        content = self.requests[index].content
        return json.loads(content) if content else None


@dataclass
class FakeClock:
    """A monotonic clock that moves only when something sleeps on it (waits are recorded, never spent)."""

    now: float = 1000.0
    sleeps: list[float] = field(default_factory=list)

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@dataclass
class Harness:
    client: CloudflareClient
    api: FakeApi
    sleeps: list[float]


@pytest.fixture
def make() -> Iterator[Callable[..., Harness]]:
    clients: list[CloudflareClient] = []

    def build(*answers: Answer, token: str = TOKEN, **options: Any) -> Harness:
        api = FakeApi(list(answers))
        clock = FakeClock()
        options.setdefault("rate_budget", RateBudget(clock=clock))
        client = CloudflareClient(token, transport=httpx.MockTransport(api), sleep=clock.sleep, **options)
        clients.append(client)
        return Harness(client, api, clock.sleeps)

    yield build
    for client in clients:
        client.close()


@pytest.fixture(scope="module")
def pems() -> dict[str, str]:
    ca = trustme.CA()
    leaf = ca.issue_cert("origin-pull.example.com")
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "example.com")]))
        .sign(key, hashes.SHA256())
    )
    return {
        "cert": leaf.cert_chain_pems[0].bytes().decode(),
        "key": leaf.private_key_pem.bytes().decode(),
        "pkcs8_key": key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode(),
        "encrypted_key": key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"passphrase"),
        ).decode(),
        "csr": csr.public_bytes(serialization.Encoding.PEM).decode(),
        "csr_der_b64": csr.public_bytes(serialization.Encoding.DER).hex(),
    }


def failing(*_: Any) -> Any:
    raise AssertionError("nothing may be sent (or waited for) for refused input")


# ----------------------------------------------------------------------------------------------------------------
# Request shapes and result parsing (documented shapes: reference/cloudflare.md §2, cloudflare-openapi/*.txt)

AOP_CERT = {
    "id": "2458ce5a-0c35-4c7f-82c7-8e9487d3ff60",
    "certificate": "-----BEGIN CERTIFICATE-----\n...",
    "issuer": "GlobalSign",
    "signature": "SHA256WithRSA",
    "status": "active",
    "uploaded_on": "2019-10-28T18:11:23.37411Z",
    "expires_on": "2100-01-01T05:20:00Z",
}
HOSTNAME_AOP = {"hostname": "app.example.com", "cert_id": AOP_CERT["id"], "enabled": True, "status": "active"}
ORIGIN_CERT = {
    "id": ORIGIN_CERT_ID,
    "certificate": "-----BEGIN CERTIFICATE-----\n...",
    "hostnames": ["example.com", "*.example.com"],
    "expires_on": "2041-01-01 10:11:00 +0000 UTC",
    "request_type": "origin-ecc",
}
HSTS = {
    "strict_transport_security": {
        "enabled": True,
        "max_age": 31536000,
        "include_subdomains": True,
        "preload": False,
        "nosniff": True,
    }
}


@dataclass(frozen=True)
class Shape:
    name: str
    call: Callable[[CloudflareClient, dict[str, str]], Any]
    method: str
    path: str
    result: Any
    expected: Any
    body: Any = None
    query: dict[str, str] = field(default_factory=dict)


SHAPES = [
    Shape(
        "get_setting",
        lambda c, p: c.get_setting(ZONE, "min_tls_version"),
        "GET",
        f"/zones/{ZONE}/settings/min_tls_version",
        {"id": "min_tls_version", "value": "1.2", "editable": True, "modified_on": None},
        "1.2",
    ),
    Shape(
        "edit_setting",
        lambda c, p: c.edit_setting(ZONE, "ssl", SslMode.STRICT),
        "PATCH",
        f"/zones/{ZONE}/settings/ssl",
        {"id": "ssl", "value": "strict", "editable": True},
        "strict",
        body={"value": "strict"},
    ),
    Shape(
        "edit_setting_hsts",
        lambda c, p: c.edit_setting(ZONE, "security_header", HSTS),
        "PATCH",
        f"/zones/{ZONE}/settings/security_header",
        {"id": "security_header", "value": HSTS},
        HSTS,
        body={"value": HSTS},
    ),
    Shape(
        "get_zone_aop_enabled",
        lambda c, p: c.get_zone_aop_enabled(ZONE),
        "GET",
        f"/zones/{ZONE}/origin_tls_client_auth/settings",
        {"enabled": True},
        True,
    ),
    Shape(
        "set_zone_aop_enabled",
        lambda c, p: c.set_zone_aop_enabled(ZONE, False),
        "PUT",
        f"/zones/{ZONE}/origin_tls_client_auth/settings",
        {"enabled": False},
        False,
        body={"enabled": False},
    ),
    Shape(
        "list_zone_aop_certificates",
        lambda c, p: c.list_zone_aop_certificates(ZONE),
        "GET",
        f"/zones/{ZONE}/origin_tls_client_auth",
        [AOP_CERT],
        [AOP_CERT],
    ),
    Shape(
        "upload_zone_aop_certificate",
        lambda c, p: c.upload_zone_aop_certificate(ZONE, p["cert"], p["key"]),
        "POST",
        f"/zones/{ZONE}/origin_tls_client_auth",
        AOP_CERT,
        AOP_CERT,
        body="cert+key",
    ),
    Shape(
        "get_zone_aop_certificate",
        lambda c, p: c.get_zone_aop_certificate(ZONE, AOP_CERT["id"]),
        "GET",
        f"/zones/{ZONE}/origin_tls_client_auth/{AOP_CERT['id']}",
        AOP_CERT,
        AOP_CERT,
    ),
    Shape(
        "delete_zone_aop_certificate",
        lambda c, p: c.delete_zone_aop_certificate(ZONE, AOP_CERT["id"]),
        "DELETE",
        f"/zones/{ZONE}/origin_tls_client_auth/{AOP_CERT['id']}",
        {**AOP_CERT, "status": "pending_deletion"},
        None,
    ),
    Shape(
        "upload_hostname_aop_certificate",
        lambda c, p: c.upload_hostname_aop_certificate(ZONE, p["cert"], p["pkcs8_key"]),
        "POST",
        f"/zones/{ZONE}/origin_tls_client_auth/hostnames/certificates",
        AOP_CERT,
        AOP_CERT,
        body="cert+pkcs8_key",
    ),
    Shape(
        "delete_hostname_aop_certificate",
        lambda c, p: c.delete_hostname_aop_certificate(ZONE, AOP_CERT["id"]),
        "DELETE",
        f"/zones/{ZONE}/origin_tls_client_auth/hostnames/certificates/{AOP_CERT['id']}",
        AOP_CERT,
        None,
    ),
    Shape(
        "set_hostname_aop",
        lambda c, p: c.set_hostname_aop(
            ZONE,
            [
                {"hostname": "App.Example.com", "cert_id": AOP_CERT["id"], "enabled": True},
                {"hostname": "old.example.com", "cert_id": AOP_CERT["id"], "enabled": None},
            ],
        ),
        "PUT",
        f"/zones/{ZONE}/origin_tls_client_auth/hostnames",
        [HOSTNAME_AOP],
        [HOSTNAME_AOP],
        body={
            "config": [
                {"hostname": "app.example.com", "cert_id": AOP_CERT["id"], "enabled": True},
                {"hostname": "old.example.com", "cert_id": AOP_CERT["id"], "enabled": None},
            ]
        },
    ),
    Shape(
        "get_hostname_aop",
        lambda c, p: c.get_hostname_aop(ZONE, "app.example.com"),
        "GET",
        f"/zones/{ZONE}/origin_tls_client_auth/hostnames/app.example.com",
        HOSTNAME_AOP,
        HOSTNAME_AOP,
    ),
    Shape(
        "create_origin_certificate",
        lambda c, p: c.create_origin_certificate(
            csr_pem=p["csr"],
            hostnames=["example.com", "*.example.com"],
            request_type="origin-ecc",
            requested_validity=5475,
        ),
        "POST",
        "/certificates",
        ORIGIN_CERT,
        ORIGIN_CERT,
        body="csr",
    ),
    Shape(
        "get_origin_certificate",
        lambda c, p: c.get_origin_certificate(ORIGIN_CERT_ID),
        "GET",
        f"/certificates/{ORIGIN_CERT_ID}",
        ORIGIN_CERT,
        ORIGIN_CERT,
    ),
    Shape(
        "list_origin_certificates",
        lambda c, p: c.list_origin_certificates(ZONE),
        "GET",
        "/certificates",
        [ORIGIN_CERT],
        [ORIGIN_CERT],
        query={"zone_id": ZONE, "page": "1", "per_page": "50"},
    ),
    Shape(
        "revoke_origin_certificate",
        lambda c, p: c.revoke_origin_certificate(ORIGIN_CERT_ID),
        "DELETE",
        f"/certificates/{ORIGIN_CERT_ID}",
        {"id": ORIGIN_CERT_ID},
        None,
    ),
]


def expected_body(shape: Shape, pems: dict[str, str]) -> Any:
    if shape.body == "cert+key":
        return {"certificate": pems["cert"], "private_key": pems["key"]}
    if shape.body == "cert+pkcs8_key":
        return {"certificate": pems["cert"], "private_key": pems["pkcs8_key"]}
    if shape.body == "csr":
        return {
            "csr": pems["csr"],
            "hostnames": ["example.com", "*.example.com"],
            "request_type": "origin-ecc",
            "requested_validity": 5475,
        }
    return shape.body


@pytest.mark.parametrize("shape", SHAPES, ids=[s.name for s in SHAPES])
def test_request_shape_and_result(make: Callable[..., Harness], pems: dict[str, str], shape: Shape) -> None:
    h = make(ok(shape.result))
    assert shape.call(h.client, pems) == shape.expected
    assert len(h.api.requests) == 1
    request = h.api.requests[0]
    assert request.method == shape.method
    assert request.url.path == "/client/v4" + shape.path
    assert dict(request.url.params) == shape.query
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert h.api.body() == expected_body(shape, pems)
    assert h.sleeps == []


READS = [s for s in SHAPES if s.expected is not None]


@pytest.mark.parametrize("shape", READS, ids=[s.name for s in READS])
def test_result_of_the_wrong_shape_is_a_response_error(
    make: Callable[..., Harness], pems: dict[str, str], shape: Shape
) -> None:
    # Twin of the shape test: the same call with a `result` that is not the documented shape.
    wrong: Any = "not an object" if isinstance(shape.result, dict) else {"not": "a list"}
    h = make(ok(wrong))
    with pytest.raises(ResponseError):
        shape.call(h.client, pems)


@pytest.mark.parametrize(
    ("call", "result"),
    [
        (lambda c: c.get_setting(ZONE, "ssl"), {"id": "ssl"}),  # no value
        (lambda c: c.get_setting(ZONE, "ssl"), {"id": "tls_1_3", "value": "on"}),  # another setting's answer
        (lambda c: c.get_zone_aop_enabled(ZONE), {"enabled": "yes"}),
        (lambda c: c.get_origin_certificate(ORIGIN_CERT_ID), {"certificate": "..."}),  # no id
        (lambda c: c.list_zone_aop_certificates(ZONE), [AOP_CERT, "junk"]),
    ],
)
def test_results_missing_their_fields_are_response_errors(
    make: Callable[..., Harness], call: Callable[[CloudflareClient], Any], result: Any
) -> None:
    h = make(ok(result))
    with pytest.raises(ResponseError):
        call(h.client)


def test_private_keys_in_results_are_dropped(make: Callable[..., Harness]) -> None:
    h = make(ok([{**AOP_CERT, "private_key": "-----BEGIN PRIVATE KEY-----\nsecret"}]))
    assert h.client.list_zone_aop_certificates(ZONE) == [AOP_CERT]


def test_null_list_result_is_empty(make: Callable[..., Harness]) -> None:
    h = make(ok(None))
    assert h.client.list_zone_aop_certificates(ZONE) == []


def test_origin_certificates_are_listed_across_pages(make: Callable[..., Harness]) -> None:
    first = [{**ORIGIN_CERT, "id": str(n)} for n in range(50)]
    second = [{**ORIGIN_CERT, "id": "50"}]
    info = {"page": 1, "per_page": 50, "total_pages": 2, "count": 50, "total_count": 51}
    h = make(
        httpx.Response(200, json={**envelope(first), "result_info": info}),
        httpx.Response(200, json={**envelope(second), "result_info": {**info, "page": 2, "count": 1}}),
    )
    assert [c["id"] for c in h.client.list_origin_certificates(ZONE)] == [str(n) for n in range(51)]
    assert [r.url.params["page"] for r in h.api.requests] == ["1", "2"]


def test_a_server_that_ignores_paging_does_not_loop(make: Callable[..., Harness]) -> None:
    # Twin: the same full page on every request ends the walk after the first repeat.
    page = [{**ORIGIN_CERT, "id": str(n)} for n in range(50)]
    h = make(ok(page))
    assert len(h.client.list_origin_certificates(ZONE)) == 50
    assert len(h.api.requests) == 2


# ----------------------------------------------------------------------------------------------------------------
# The error boundary


@pytest.mark.parametrize("status", [401, 403])
@pytest.mark.parametrize(
    ("call", "permission"),
    [
        (lambda c, p: c.get_setting(ZONE, "ssl"), "Zone Settings Read"),
        (lambda c, p: c.edit_setting(ZONE, "tls_1_3", "on"), "Zone Settings Edit"),
        (lambda c, p: c.get_zone_aop_enabled(ZONE), "SSL and Certificates Read"),
        (lambda c, p: c.upload_zone_aop_certificate(ZONE, p["cert"], p["key"]), "SSL and Certificates Edit"),
        (lambda c, p: c.get_origin_certificate(ORIGIN_CERT_ID), "SSL and Certificates Edit"),
    ],
)
def test_refused_token_names_the_permission(
    make: Callable[..., Harness],
    pems: dict[str, str],
    status: int,
    call: Callable[[CloudflareClient, dict[str, str]], Any],
    permission: str,
) -> None:
    body = envelope(..., success=False, errors=[{"code": 10000, "message": "Authentication error"}])
    h = make(httpx.Response(status, json=body))
    with pytest.raises(AuthenticationError) as caught:
        call(h.client, pems)
    assert permission in str(caught.value)
    assert "10000 Authentication error" in str(caught.value)
    assert caught.value.status == status
    assert caught.value.codes == (10000,)
    assert len(h.api.requests) == 1  # a refused token is not retried


def test_unknown_zone_is_not_found(make: Callable[..., Harness]) -> None:
    body = envelope(..., success=False, errors=[{"code": 7003, "message": "Could not route to /zones/..."}])
    h = make(httpx.Response(404, json=body))
    with pytest.raises(NotFoundError) as caught:
        h.client.get_setting(ZONE, "ssl")
    assert f"zone {ZONE} is unknown to this token's account" in str(caught.value)
    assert caught.value.codes == (7003,)


def test_unknown_certificate_is_not_found(make: Callable[..., Harness]) -> None:
    h = make(httpx.Response(404, json=envelope(..., success=False, errors=[{"code": 1101, "message": "not found"}])))
    with pytest.raises(NotFoundError, match=f"Origin CA certificate {ORIGIN_CERT_ID} is unknown"):
        h.client.get_origin_certificate(ORIGIN_CERT_ID)


@pytest.mark.parametrize("status", [200, 400])
def test_success_false_carries_the_api_codes(make: Callable[..., Harness], status: int) -> None:
    body = envelope(..., success=False, errors=[{"code": 1007, "message": "Invalid value for zone setting ssl"}])
    h = make(httpx.Response(status, json=body))
    with pytest.raises(ResponseError) as caught:
        h.client.edit_setting(ZONE, "ssl", "strict")
    assert caught.value.codes == (1007,)
    assert "1007 Invalid value for zone setting ssl" in str(caught.value)
    assert not isinstance(caught.value, (AuthenticationError, NotFoundError))


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(200, content=b"<html>502 Bad Gateway</html>"),
        httpx.Response(200, content=b'{"success": true, "result": '),
        httpx.Response(200, json=[1, 2]),
        httpx.Response(200, json={"result": {"id": "ssl", "value": "strict"}}),  # no success
        httpx.Response(200, json=envelope(...)),  # no result
        httpx.Response(302, headers={"Location": "https://elsewhere.example/"}),
    ],
    ids=["html", "truncated", "list", "no-success", "no-result", "redirect"],
)
def test_answers_that_are_not_the_envelope_are_response_errors(
    make: Callable[..., Harness], response: httpx.Response
) -> None:
    h = make(response)
    with pytest.raises(ResponseError):
        h.client.get_setting(ZONE, "ssl")
    assert len(h.api.requests) == 1


# ----------------------------------------------------------------------------------------------------------------
# Retries


def too_many(retry_after: str | None = None) -> httpx.Response:
    headers = {} if retry_after is None else {"Retry-After": retry_after}
    body = envelope(..., success=False, errors=[{"code": 10429, "message": "rate limited"}])
    return httpx.Response(429, json=body, headers=headers)


def test_429_then_success_waits_retry_after(make: Callable[..., Harness]) -> None:
    h = make(too_many("7"), too_many("2"), ok({"id": "ssl", "value": "strict"}))
    assert h.client.get_setting(ZONE, "ssl") == "strict"
    assert h.sleeps == [7.0, 2.0]
    assert len(h.api.requests) == 3


def test_retry_after_http_date_is_honoured_and_capped(make: Callable[..., Harness]) -> None:
    later = format_datetime(datetime.now(timezone.utc) + timedelta(hours=1), usegmt=True)
    earlier = format_datetime(datetime.now(timezone.utc) - timedelta(hours=1), usegmt=True)
    h = make(too_many(later), too_many(earlier), too_many("600"), ok({"id": "ssl", "value": "off"}), max_backoff=12.5)
    assert h.client.get_setting(ZONE, "ssl") == "off"
    assert h.sleeps == [12.5, 12.5]  # a Retry-After date in the past asks for no wait at all


def test_429_without_retry_after_backs_off_within_bounds(make: Callable[..., Harness]) -> None:
    h = make(too_many(), too_many("soon"), ok({"id": "ssl", "value": "off"}))
    h.client.get_setting(ZONE, "ssl")
    assert len(h.sleeps) == 2
    assert all(0 < s <= 30.0 for s in h.sleeps)


def test_429_forever_is_rate_limited_after_max_retries(make: Callable[..., Harness]) -> None:
    h = make(too_many("1"), max_retries=2)
    with pytest.raises(RateLimitedError) as caught:
        h.client.get_setting(ZONE, "ssl")
    assert len(h.api.requests) == 3
    assert h.sleeps == [1.0, 1.0]
    assert caught.value.status == 429
    assert caught.value.codes == (10429,)


def test_post_is_retried_on_429(make: Callable[..., Harness], pems: dict[str, str]) -> None:
    # A 429 means the request was not processed, so repeating the POST cannot mint a second certificate.
    h = make(too_many("3"), ok(ORIGIN_CERT))
    cert = h.client.create_origin_certificate(
        csr_pem=pems["csr"], hostnames=["example.com"], request_type="origin-rsa", requested_validity=90
    )
    assert cert["id"] == ORIGIN_CERT_ID
    assert [r.method for r in h.api.requests] == ["POST", "POST"]
    assert h.sleeps == [3.0]


def server_error(status: int = 503) -> httpx.Response:
    return httpx.Response(status, content=b"upstream unavailable")


def test_5xx_then_success_is_retried(make: Callable[..., Harness]) -> None:
    h = make(server_error(502), server_error(500), ok({"enabled": True}))
    assert h.client.get_zone_aop_enabled(ZONE) is True
    assert len(h.sleeps) == 2


@pytest.mark.parametrize("max_retries", [0, 1, 3])
def test_persistent_5xx_is_a_server_error_after_bounded_tries(make: Callable[..., Harness], max_retries: int) -> None:
    h = make(server_error(), max_retries=max_retries, max_backoff=4.0)
    with pytest.raises(ServerError) as caught:
        h.client.set_zone_aop_enabled(ZONE, True)
    assert caught.value.status == 503
    assert len(h.api.requests) == max_retries + 1
    assert len(h.sleeps) == max_retries
    assert all(0 < s <= 4.0 for s in h.sleeps)


@pytest.mark.parametrize(
    "answer",
    [server_error(500), httpx.ReadTimeout("read timed out")],
    ids=["5xx", "read-timeout"],
)
def test_post_is_not_retried_when_it_may_have_been_processed(
    make: Callable[..., Harness], pems: dict[str, str], answer: Answer
) -> None:
    # A second POST could mint a second certificate: the caller gets the error after exactly one request.
    h = make(answer, ok(ORIGIN_CERT))
    with pytest.raises((ServerError, TransportError)):
        h.client.create_origin_certificate(
            csr_pem=pems["csr"], hostnames=["example.com"], request_type="origin-ecc", requested_validity=7
        )
    assert len(h.api.requests) == 1
    assert h.sleeps == []


def test_post_is_retried_when_it_never_connected(make: Callable[..., Harness], pems: dict[str, str]) -> None:
    h = make(httpx.ConnectError("connection refused"), ok(AOP_CERT))
    assert h.client.upload_zone_aop_certificate(ZONE, pems["cert"], pems["key"])["id"] == AOP_CERT["id"]
    assert len(h.api.requests) == 2


def test_connect_timeout_is_a_transport_error_after_bounded_tries(make: Callable[..., Harness]) -> None:
    h = make(httpx.ConnectTimeout("timed out"), max_retries=2)
    with pytest.raises(TransportError) as caught:
        h.client.get_setting(ZONE, "ssl")
    assert isinstance(caught.value.__cause__, httpx.ConnectTimeout)
    assert caught.value.status is None
    assert "ConnectTimeout" in str(caught.value)
    assert len(h.api.requests) == 3


def test_timeout_then_success_is_retried_for_a_get(make: Callable[..., Harness]) -> None:
    h = make(httpx.ReadTimeout("read timed out"), ok({"id": "tls_1_3", "value": "on"}))
    assert h.client.get_setting(ZONE, "tls_1_3") == "on"


def test_every_failure_is_a_cloudflare_error(make: Callable[..., Harness]) -> None:
    for answer in (server_error(), httpx.ConnectError("refused"), too_many("0"), httpx.Response(418)):
        h = make(answer, max_retries=0)
        with pytest.raises(CloudflareError):
            h.client.get_setting(ZONE, "ssl")


# ----------------------------------------------------------------------------------------------------------------
# The token never leaks

token_text = st.text(alphabet=string.ascii_letters + string.digits + "-_", min_size=12, max_size=60)


def echo_token(status: int) -> Callable[[httpx.Request], httpx.Response]:
    """A hostile or buggy server that quotes the Authorization header back in its error message."""

    def answer(request: httpx.Request) -> httpx.Response:
        header = request.headers["authorization"]
        body = envelope(..., success=False, errors=[{"code": 9109, "message": f"bad token {header}"}])
        return httpx.Response(status, json=body)

    return answer


@settings(max_examples=30, deadline=None)
@given(token=token_text, status=st.sampled_from([400, 401, 403, 404, 429, 500, 503]))
def test_token_never_in_errors_reprs_or_logs(token: str, status: int) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger()
    logger.addHandler(handler)
    previous = logger.level
    logger.setLevel(logging.DEBUG)
    api = FakeApi([echo_token(status)])
    try:
        with CloudflareClient(token, transport=httpx.MockTransport(api), sleep=lambda _: None, max_retries=1) as client:
            assert token not in repr(client)
            with pytest.raises(CloudflareError) as caught:
                client.get_setting(ZONE, "ssl")
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)
    # The server really did quote the token: without redaction it would be in the message.
    assert api.requests[0].headers["authorization"] == f"Bearer {token}"
    assert 9109 in caught.value.codes
    assert "<redacted>" in str(caught.value)
    assert token not in str(caught.value)
    assert all(token not in str(arg) for arg in caught.value.args)
    assert token not in stream.getvalue()


@settings(max_examples=20, deadline=None)
@given(token=token_text)
def test_token_never_in_transport_errors(token: str) -> None:
    api = FakeApi([httpx.ConnectError(f"refused while sending {token}")])
    client = CloudflareClient(token, transport=httpx.MockTransport(api), sleep=lambda _: None, max_retries=0)
    with client, pytest.raises(TransportError) as caught:
        client.get_zone_aop_enabled(ZONE)
    assert token not in str(caught.value)


def test_client_refuses_to_be_pickled_or_copied() -> None:
    with CloudflareClient(TOKEN, transport=httpx.MockTransport(failing)) as client:
        for attempt in (pickle.dumps, copy.copy, copy.deepcopy):
            with pytest.raises(TypeError) as caught:
                attempt(client)
            assert TOKEN not in str(caught.value)


def test_repr_redacts_the_token() -> None:
    with CloudflareClient(TOKEN, transport=httpx.MockTransport(failing)) as client:
        assert repr(client) == f"CloudflareClient(base_url={DEFAULT_API_URL!r}, token=<redacted>)"


@pytest.mark.parametrize("token", ["", "   ", None, 42, "abc\ndef", "abc def", "tok\x00en"])
def test_bad_tokens_are_refused_without_echo(token: Any) -> None:
    with pytest.raises(InvalidInput) as caught:
        CloudflareClient(token, transport=httpx.MockTransport(failing))
    assert caught.value.field == "api token"
    assert caught.value.value == "<redacted>"
    if isinstance(token, str) and token.strip():
        assert token not in str(caught.value)


def test_token_surrounded_by_whitespace_is_trimmed(make: Callable[..., Harness]) -> None:
    h = make(ok({"enabled": False}), token=f"  {TOKEN}\n")
    h.client.get_zone_aop_enabled(ZONE)
    assert h.api.requests[0].headers["authorization"] == f"Bearer {TOKEN}"


# ----------------------------------------------------------------------------------------------------------------
# Bad arguments are refused before anything is sent


def bad_calls(p: dict[str, str]) -> list[tuple[str, Callable[[CloudflareClient], Any]]]:
    cert_id = AOP_CERT["id"]
    return [
        ("zone_id", lambda c: c.get_setting("not-a-zone", "ssl")),
        ("zone_id", lambda c: c.list_origin_certificates(ZONE + "0")),
        ("setting_id", lambda c: c.get_setting(ZONE, "ssl_recommender")),
        ("setting_id", lambda c: c.edit_setting(ZONE, "../dns_records", "on")),
        ("ssl value", lambda c: c.edit_setting(ZONE, "ssl", "strictest")),
        ("min_tls_version value", lambda c: c.edit_setting(ZONE, "min_tls_version", 1.2)),
        ("security_header value", lambda c: c.edit_setting(ZONE, "security_header", {"strictTransportSecurity": {}})),
        (
            "security_header value",
            lambda c: c.edit_setting(ZONE, "security_header", {"strict_transport_security": {"maxAge": 1}}),
        ),
        (
            "security_header.strict_transport_security.max_age",
            lambda c: c.edit_setting(ZONE, "security_header", {"strict_transport_security": {"max_age": "1y"}}),
        ),
        ("enabled", lambda c: c.set_zone_aop_enabled(ZONE, "true")),
        ("certificate", lambda c: c.upload_zone_aop_certificate(ZONE, "MIIB...", p["key"])),
        ("certificate", lambda c: c.upload_hostname_aop_certificate(ZONE, p["key"], p["key"])),
        ("private_key", lambda c: c.upload_zone_aop_certificate(ZONE, p["cert"], p["encrypted_key"])),
        ("private_key", lambda c: c.upload_hostname_aop_certificate(ZONE, p["cert"], p["cert"])),
        ("certificate_id", lambda c: c.get_zone_aop_certificate(ZONE, "../../settings")),
        ("certificate_id", lambda c: c.delete_zone_aop_certificate(ZONE, "")),
        ("certificate_id", lambda c: c.delete_hostname_aop_certificate(ZONE, "a/b")),
        ("certificate_id", lambda c: c.revoke_origin_certificate("123?zone_id=x")),
        ("certificate_id", lambda c: c.get_origin_certificate("")),
        ("configs", lambda c: c.set_hostname_aop(ZONE, [])),
        ("configs[0]", lambda c: c.set_hostname_aop(ZONE, [{"hostname": "a.example.com", "cert_id": cert_id}])),
        (
            "configs[0].enabled",
            lambda c: c.set_hostname_aop(ZONE, [{"hostname": "a.example.com", "cert_id": cert_id, "enabled": "on"}]),
        ),
        (
            "configs[0].hostname",
            lambda c: c.set_hostname_aop(ZONE, [{"hostname": "a b", "cert_id": cert_id, "enabled": True}]),
        ),
        ("hostname", lambda c: c.get_hostname_aop(ZONE, "app.example.com/../x")),
        ("csr", lambda c: c.create_origin_certificate(**origin_args(p, csr_pem=p["csr_der_b64"]))),
        ("csr", lambda c: c.create_origin_certificate(**origin_args(p, csr_pem=p["cert"]))),
        ("hostnames", lambda c: c.create_origin_certificate(**origin_args(p, hostnames=[]))),
        ("hostnames", lambda c: c.create_origin_certificate(**origin_args(p, hostnames="example.com"))),
        ("hostnames[1]", lambda c: c.create_origin_certificate(**origin_args(p, hostnames=["a.com", "*.*.a.com"]))),
        ("hostnames[0]", lambda c: c.create_origin_certificate(**origin_args(p, hostnames=["192.0.2.1"]))),
        ("request_type", lambda c: c.create_origin_certificate(**origin_args(p, request_type="origin-dsa"))),
        ("requested_validity", lambda c: c.create_origin_certificate(**origin_args(p, requested_validity=42))),
        ("requested_validity", lambda c: c.create_origin_certificate(**origin_args(p, requested_validity=True))),
    ]


def origin_args(p: dict[str, str], **overrides: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "csr_pem": p["csr"],
        "hostnames": ["example.com"],
        "request_type": "origin-ecc",
        "requested_validity": 5475,
    }
    return {**args, **overrides}


def test_bad_arguments_are_refused_with_nothing_sent(pems: dict[str, str]) -> None:
    api = FakeApi([failing])
    with CloudflareClient(TOKEN, transport=httpx.MockTransport(api), sleep=failing) as client:
        for field_name, call in bad_calls(pems):
            with pytest.raises(InvalidInput) as caught:
                call(client)
            assert caught.value.field == field_name, field_name
    assert api.requests == []


def test_good_twins_of_bad_arguments_are_sent(make: Callable[..., Harness], pems: dict[str, str]) -> None:
    # The same calls with valid arguments do reach the API, so the refusals above are about the arguments.
    h = make(ok(ORIGIN_CERT))
    h.client.create_origin_certificate(**origin_args(pems, hostnames=["a.com", "*.a.com"], request_type="origin-rsa"))
    h.client.create_origin_certificate(**origin_args(pems, requested_validity=30.0))  # Pulumi hands numbers as floats
    h.client.get_origin_certificate(ORIGIN_CERT_ID)
    assert h.api.body(1)["requested_validity"] == 30
    assert len(h.api.requests) == 3


def test_private_key_is_never_echoed_when_refused(pems: dict[str, str]) -> None:
    with CloudflareClient(TOKEN, transport=httpx.MockTransport(failing)) as client:
        broken_key = pems["key"].replace("-----END", "!!!-----END")
        with pytest.raises(InvalidInput) as caught:
            client.upload_zone_aop_certificate(ZONE, pems["cert"], broken_key)
    body = pems["key"].splitlines()[1]
    assert body not in str(caught.value)


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("base_url", "http://api.cloudflare.com/client/v4"),  # the token would cross the network in clear
        ("base_url", "ftp://127.0.0.1/"),
        ("base_url", "http://127.0.0.1.attacker.example/client/v4"),
        ("base_url", "https://api.cloudflare.com/client/v4?x=1"),
        ("base_url", "https://user:pw@api.cloudflare.com/client/v4"),
        ("base_url", 7),
        ("timeout", 0),
        ("timeout", float("nan")),
        ("max_retries", -1),
        ("max_retries", 11),
        ("max_retries", True),
        ("max_backoff", -1.0),
        ("max_backoff", float("inf")),
    ],
)
def test_bad_client_options_are_refused(option: str, value: Any) -> None:
    with pytest.raises(InvalidInput):
        CloudflareClient(TOKEN, transport=httpx.MockTransport(failing), **{option: value})


@pytest.mark.parametrize(
    "base_url", ["http://127.0.0.1:8080/client/v4/", "http://[::1]:9000", "http://localhost:1", "https://cf.internal"]
)
def test_good_base_urls_are_used(base_url: str) -> None:
    api = FakeApi([ok({"id": "ssl", "value": "full"})])
    with CloudflareClient(TOKEN, base_url=base_url, transport=httpx.MockTransport(api)) as client:
        assert client.get_setting(ZONE, "ssl") == "full"
    sent = str(api.requests[0].url)
    assert sent == base_url.rstrip("/") + f"/zones/{ZONE}/settings/ssl"


# ----------------------------------------------------------------------------------------------------------------
# parse_expires_on (reference/cloudflare.md §2.2: RFC 3339 and Go's time.String())


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-04-01 10:11:00 +0000 UTC", datetime(2025, 4, 1, 10, 11, tzinfo=timezone.utc)),
        ("2025-04-01 12:11:00 +0200 CEST", datetime(2025, 4, 1, 10, 11, tzinfo=timezone.utc)),
        ("2025-04-01 10:11:00.123456789 +0000 UTC", datetime(2025, 4, 1, 10, 11, 0, 123456, tzinfo=timezone.utc)),
        ("2014-01-01T05:20:00.12345Z", datetime(2014, 1, 1, 5, 20, 0, 123450, tzinfo=timezone.utc)),
        ("2014-01-01T05:20:00Z", datetime(2014, 1, 1, 5, 20, tzinfo=timezone.utc)),
        ("2014-01-01t05:20:00z", datetime(2014, 1, 1, 5, 20, tzinfo=timezone.utc)),
        ("2041-06-30T23:00:00-05:30", datetime(2041, 7, 1, 4, 30, tzinfo=timezone.utc)),
        (" 2100-01-01T00:00:00+00:00 ", datetime(2100, 1, 1, tzinfo=timezone.utc)),
    ],
)
def test_parse_expires_on_reads_both_formats(text: str, expected: datetime) -> None:
    parsed = parse_expires_on(text)
    assert parsed == expected
    assert parsed.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "soon",
        "2025-04-01",
        "2025-04-01T10:11:00",  # no offset: the instant is unknown
        "2025-04-01 10:11:00 +0000",  # Go layout without the zone name
        "2025-13-01T10:11:00Z",
        "2025-02-30T10:11:00Z",
        "2025-04-01T24:00:00Z",
        "2025-04-01T10:11:00+25:00",
        "2025-04-01T10:11:00Z trailing",
        "1743502260",
        None,
        1743502260,
    ],
)
def test_parse_expires_on_refuses_garbage(text: Any) -> None:
    with pytest.raises(ResponseError):
        parse_expires_on(text)


def test_all_is_honest() -> None:
    exported = set(cloudflare_module.__all__)
    assert all(hasattr(cloudflare_module, name) for name in exported)
    defined = {
        name
        for name, value in vars(cloudflare_module).items()
        if not name.startswith("_") and getattr(value, "__module__", None) == cloudflare_module.__name__
    }
    assert defined <= exported
