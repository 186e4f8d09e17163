"""The ECS sender sends what ``httpx.Client.send`` would have sent: the same URL, the
same headers in the same order, the same timeouts; only the per-call work differs."""

from __future__ import annotations

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
