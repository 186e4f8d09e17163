"""The ECS sender sends what ``httpx.Client.send`` would have sent: the same URL, the
same headers in the same order, the same timeouts; only the per-call work differs."""

from __future__ import annotations

import http.client
import ssl
from typing import Any

import httpx
import pytest

from bot.ecs import signing
from bot.ecs.sender import CLOSED_MESSAGE, Sender, with_encoded_query

TIMEOUT = httpx.Timeout(10.0, connect=5.0)
HEADERS = {"host": "ecs.cn-hangzhou.aliyuncs.com", "x-acs-action": "DescribeInstances"}
# Every character class canonical_query writes: unreserved, %XX of ASCII and of UTF-8.
QUERY = signing.canonical_query(
    {
        "InstanceIds": '["i-bp1abc", "i-bp1def"]',
        "RegionId": "cn-hangzhou",
        "Odd": "a b*c~d/é中😀%&=?#",
    }
)


@pytest.mark.parametrize(
    "base",
    [
        "http://127.0.0.1:9100",
        "https://ecs.cn-hangzhou.aliyuncs.com",
        "https://ecs.cn-hangzhou.aliyuncs.com:443",
        "http://[::1]:8080",
        "http://simulator.local/ignored/path?old=query",
    ],
)
def test_with_encoded_query_is_the_url_httpx_parses(base: str) -> None:
    parsed = httpx.URL(base)
    expected = parsed.copy_with(path="/", query=QUERY.encode())
    built = with_encoded_query(parsed, QUERY)
    assert built == expected
    assert str(built) == str(expected)
    assert built.raw_path == expected.raw_path == f"/?{QUERY}".encode()
    assert (built.host, built.port, built.query) == (expected.host, expected.port, expected.query)


class Recorder:
    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(200, json={"RequestId": "r"})


def test_post_sends_what_httpx_client_would_send() -> None:
    recorder = Recorder()
    sender = Sender(transport=httpx.MockTransport(recorder), timeout=TIMEOUT)
    origin = sender.origin("https://ecs.cn-hangzhou.aliyuncs.com")
    response = sender.post(origin, QUERY, HEADERS)

    client = httpx.Client(timeout=TIMEOUT)
    expected = client.build_request(
        "POST", origin.url.copy_with(path="/", query=QUERY.encode()), headers=HEADERS, content=b""
    )
    client.close()
    [sent] = recorder.requests
    assert sent.method == "POST"
    assert sent.url == expected.url
    assert sent.headers.multi_items() == expected.headers.multi_items()
    assert sent.content == b""
    assert sent.extensions["timeout"] == expected.extensions["timeout"]
    assert origin.host == "ecs.cn-hangzhou.aliyuncs.com"
    assert response.json() == {"RequestId": "r"}
    assert response.is_closed
    sender.close()


def test_origin_host_keeps_a_port_that_is_not_the_default() -> None:
    sender = Sender(transport=httpx.MockTransport(Recorder()), timeout=TIMEOUT)
    assert sender.origin("http://127.0.0.1:9100").host == "127.0.0.1:9100"
    assert sender.origin("https://ecs.cn-hangzhou.aliyuncs.com:443").host == (
        "ecs.cn-hangzhou.aliyuncs.com"
    )
    sender.close()


def test_transport_faults_come_out_as_httpx_raises_them() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    sender = Sender(transport=httpx.MockTransport(refuse), timeout=TIMEOUT)
    origin = sender.origin("http://127.0.0.1:9100")
    with pytest.raises(httpx.ConnectError):
        sender.post(origin, QUERY, HEADERS)
    sender.close()


def test_post_after_close_raises() -> None:
    recorder = Recorder()
    sender = Sender(transport=httpx.MockTransport(recorder), timeout=TIMEOUT)
    origin = sender.origin("http://127.0.0.1:9100")
    sender.close()
    with pytest.raises(RuntimeError, match=CLOSED_MESSAGE):
        sender.post(origin, QUERY, HEADERS)
    assert recorder.requests == []


# --- which path: the standard library's for what httpx would reach directly -----------


def test_an_injected_transport_keeps_every_call_on_httpx() -> None:
    transport = httpx.MockTransport(Recorder())
    sender = Sender(transport=transport, timeout=TIMEOUT)
    for base in ("http://127.0.0.1:9100", "https://ecs.cn-hangzhou.aliyuncs.com"):
        origin = sender.origin(base)
        assert origin.pool is None
        assert origin.transport is transport
    sender.close()


@pytest.mark.parametrize(
    ("variable", "base"),
    [
        ("HTTPS_PROXY", "https://ecs.cn-hangzhou.aliyuncs.com"),
        ("HTTP_PROXY", "http://ecs.cn-hangzhou.aliyuncs.com"),
        ("ALL_PROXY", "https://ecs.cn-hangzhou.aliyuncs.com"),
        ("https_proxy", "https://ecs.cn-hangzhou.aliyuncs.com"),
    ],
)
def test_a_proxy_from_the_environment_keeps_httpx(
    monkeypatch: pytest.MonkeyPatch, variable: str, base: str
) -> None:
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    monkeypatch.setenv(variable, "http://proxy.internal:3128")
    sender = Sender(transport=None, timeout=TIMEOUT)
    origin = sender.origin(base)
    assert origin.pool is None
    assert isinstance(origin.transport, httpx.HTTPTransport)
    sender.close()


def test_no_proxy_for_the_endpoint_takes_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("NO_PROXY", "aliyuncs.com")
    sender = Sender(transport=None, timeout=TIMEOUT)
    assert sender.origin("https://ecs.cn-hangzhou.aliyuncs.com").pool is not None
    assert sender.origin("https://example.org").pool is None
    sender.close()


def test_without_a_proxy_plain_origins_take_the_fast_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    sender = Sender(transport=None, timeout=TIMEOUT)
    plain = sender.origin("http://127.0.0.1:9100/ignored")
    assert plain.pool is not None
    assert (plain.pool.scheme, plain.pool.host, plain.pool.port) == ("http", "127.0.0.1", 9100)
    assert plain.pool.ssl_context is None
    assert isinstance(plain.pool.new_connection(), http.client.HTTPConnection)
    sender.close()


def test_https_uses_the_ssl_context_httpx_would(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    made: list[ssl.SSLContext] = []
    real = httpx.create_ssl_context

    def recording(*args: Any, **kwargs: Any) -> ssl.SSLContext:
        made.append(real(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(httpx, "create_ssl_context", recording)
    sender = Sender(transport=None, timeout=TIMEOUT)
    origin = sender.origin("https://ecs.cn-hangzhou.aliyuncs.com")
    assert origin.pool is not None
    assert (origin.pool.host, origin.pool.port) == ("ecs.cn-hangzhou.aliyuncs.com", 443)
    [context] = made
    assert origin.pool.ssl_context is context
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname
    connection = origin.pool.new_connection()
    assert isinstance(connection, http.client.HTTPSConnection)
    assert connection._context is context  # type: ignore[attr-defined]
    assert (connection.host, connection.port, connection.timeout) == (
        "ecs.cn-hangzhou.aliyuncs.com",
        443,
        5.0,
    )
    sender.close()
