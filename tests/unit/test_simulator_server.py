"""The simulator writes each reply as one complete HTTP/1.1 response; h11, the parser
under httpx, reads it back as a client would."""

from __future__ import annotations

import email.utils
import json

import h11

from bot.simulator.server import Reply, response_bytes

NOW = 1_714_550_950.7  # 2024-05-01T08:09:10.7Z


def parse(raw: bytes) -> tuple[h11.Response, bytes]:
    connection = h11.Connection(h11.CLIENT)
    connection.send(h11.Request(method="POST", target="/", headers=[("Host", "sim")]))
    connection.send(h11.EndOfMessage())
    connection.receive_data(raw)
    head = connection.next_event()
    assert isinstance(head, h11.Response)
    body = b""
    while True:
        event = connection.next_event()
        if isinstance(event, h11.Data):
            body += event.data
        else:
            assert isinstance(event, h11.EndOfMessage)
            return head, body


def test_a_reply_reads_back_with_its_status_headers_and_json_body() -> None:
    body = {"RequestId": "R-1", "Instances": {"Instance": [{"InstanceName": "数据库"}]}}
    reply = Reply(200, body, {"x-acs-request-id": "R-1"})
    head, payload = parse(response_bytes(reply, "ecs-simulator", now=NOW))
    headers = {name.decode(): value.decode() for name, value in head.headers}
    assert head.status_code == 200
    assert head.reason == b"OK"
    assert headers["server"] == "ecs-simulator"
    assert headers["date"] == email.utils.formatdate(int(NOW), usegmt=True)
    assert headers["content-type"] == "application/json;charset=utf-8"
    assert headers["content-length"] == str(len(payload))
    assert headers["x-acs-request-id"] == "R-1"
    assert json.loads(payload) == body


def test_an_error_reply_and_an_empty_one() -> None:
    head, payload = parse(response_bytes(Reply(411, {"Code": "MissingContentLength"}), "s"))
    assert (head.status_code, head.reason) == (411, b"Length Required")
    assert json.loads(payload) == {"Code": "MissingContentLength"}
    head, payload = parse(response_bytes(Reply(204), "s"))
    assert head.status_code == 204
    assert payload == b""


def test_a_status_without_a_standard_reason_still_parses() -> None:
    head, _ = parse(response_bytes(Reply(599, {"Code": "Odd"}), "s"))
    assert (head.status_code, head.reason) == (599, b"")
