"""Credentials providers, the RAM-role flow against a real local metadata HTTP server."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bot.domain.errors import CredentialsError
from bot.ecs.credentials import (
    Credentials,
    EcsRamRoleCredentialsProvider,
    StaticCredentialsProvider,
    credentials_chain,
)

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
ROLE = "EcsRebootBotRole"
METADATA_TOKEN = "metadata-token-abc"


@dataclass
class MetadataState:
    """What the fake metadata service hands out, and what it was asked."""

    expiration: datetime = T0 + timedelta(hours=1)
    issued: int = 0
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Handler(BaseHTTPRequestHandler):
    state: MetadataState

    def log_message(self, format: str, *args: object) -> None:  # keep pytest output clean
        return

    def _record(self) -> None:
        with self.state.lock:
            self.state.requests.append((self.command, self.path, dict(self.headers.items())))

    def _send(self, status: int, body: str) -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_PUT(self) -> None:
        self._record()
        if self.path != "/latest/api/token":
            self._send(404, "not found")
        elif self.headers.get("X-aliyun-ecs-metadata-token-ttl-seconds") != "21600":
            self._send(400, "missing ttl")
        else:
            self._send(200, METADATA_TOKEN)

    def do_GET(self) -> None:
        self._record()
        if self.headers.get("X-aliyun-ecs-metadata-token") != METADATA_TOKEN:
            self._send(401, "token required")
            return
        base = "/latest/meta-data/ram/security-credentials/"
        if self.path == base:
            self._send(200, ROLE)
        elif self.path == base + ROLE:
            with self.state.lock:
                self.state.issued += 1
                serial = self.state.issued
                expiration = self.state.expiration
            payload = {
                "Code": "Success",
                "AccessKeyId": f"STS.key{serial}",
                "AccessKeySecret": f"role-secret-{serial}",
                "SecurityToken": f"role-token-{serial}",
                "Expiration": expiration.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "LastUpdated": T0.strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
            self._send(200, json.dumps(payload))
        else:
            self._send(404, "not found")


@pytest.fixture
def metadata() -> Iterator[tuple[str, MetadataState]]:
    state = MetadataState()
    handler = type("Handler", (_Handler,), {"state": state})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def test_role_flow_discovers_the_role_and_returns_sts_credentials(
    metadata: tuple[str, MetadataState],
) -> None:
    url, state = metadata
    provider = EcsRamRoleCredentialsProvider(metadata_url=url, clock=Clock(T0))

    creds = provider.get()

    assert creds == Credentials("STS.key1", "role-secret-1", "role-token-1")
    calls = [(method, path) for method, path, _ in state.requests]
    assert calls == [
        ("PUT", "/latest/api/token"),
        ("GET", "/latest/meta-data/ram/security-credentials/"),
        ("GET", f"/latest/meta-data/ram/security-credentials/{ROLE}"),
    ]
    # Every GET carried the metadata token the PUT returned.
    assert all(
        h.get("X-aliyun-ecs-metadata-token") == METADATA_TOKEN
        for m, _, h in state.requests
        if m == "GET"
    )


def test_configured_role_skips_discovery(metadata: tuple[str, MetadataState]) -> None:
    url, state = metadata
    provider = EcsRamRoleCredentialsProvider(role_name=ROLE, metadata_url=url, clock=Clock(T0))

    assert provider.get().access_key_id == "STS.key1"
    assert [path for _, path, _ in state.requests] == [
        "/latest/api/token",
        f"/latest/meta-data/ram/security-credentials/{ROLE}",
    ]


def test_cached_until_15_minutes_before_expiry_then_refreshed(
    metadata: tuple[str, MetadataState],
) -> None:
    url, state = metadata
    clock = Clock(T0)
    provider = EcsRamRoleCredentialsProvider(role_name=ROLE, metadata_url=url, clock=clock)

    first = provider.get()
    clock.now = T0 + timedelta(minutes=44, seconds=59)  # 15 min + 1 s before expiry
    assert provider.get() is first
    assert state.issued == 1

    state.expiration = T0 + timedelta(hours=2)
    clock.now = T0 + timedelta(minutes=45)  # exactly 15 minutes before expiry
    second = provider.get()
    assert state.issued == 2
    assert second.access_key_id == "STS.key2"
    assert second.security_token == "role-token-2"


def test_concurrent_callers_share_one_refresh(metadata: tuple[str, MetadataState]) -> None:
    url, state = metadata
    provider = EcsRamRoleCredentialsProvider(role_name=ROLE, metadata_url=url, clock=Clock(T0))
    results: list[Credentials] = []
    threads = [threading.Thread(target=lambda: results.append(provider.get())) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert state.issued == 1
    assert len(results) == 8
    assert {creds.access_key_id for creds in results} == {"STS.key1"}


def test_unreachable_metadata_is_a_credentials_error_naming_what_to_set() -> None:
    # Port 9 on loopback (discard) is closed on test machines: the connection is refused.
    provider = EcsRamRoleCredentialsProvider(metadata_url="http://127.0.0.1:9", clock=Clock(T0))
    with pytest.raises(CredentialsError, match="ALIBABA_CLOUD_ACCESS_KEY_ID"):
        provider.get()


def test_wrong_role_is_a_credentials_error(metadata: tuple[str, MetadataState]) -> None:
    url, _ = metadata
    provider = EcsRamRoleCredentialsProvider(role_name="Nope", metadata_url=url, clock=Clock(T0))
    with pytest.raises(CredentialsError, match="instance metadata"):
        provider.get()


def test_secrets_never_in_repr_or_str() -> None:
    creds = Credentials("LTAIexample", "very-secret-value", "sts-token-value")
    provider = StaticCredentialsProvider("LTAIexample", "very-secret-value", "sts-token-value")
    for text in (repr(creds), str(creds), repr(provider), str(provider)):
        assert "LTAIexample" in text
        assert "very-secret-value" not in text
        assert "sts-token-value" not in text


def test_role_credentials_repr_hides_secret(metadata: tuple[str, MetadataState]) -> None:
    url, _ = metadata
    creds = EcsRamRoleCredentialsProvider(metadata_url=url, clock=Clock(T0)).get()
    assert "role-secret-1" not in repr(creds)
    assert "role-token-1" not in str(creds)


def test_chain_prefers_explicit_values() -> None:
    provider = credentials_chain(access_key_id="AK", access_key_secret="SK", security_token="T")
    assert provider.get() == Credentials("AK", "SK", "T")


def test_chain_falls_back_to_metadata(metadata: tuple[str, MetadataState]) -> None:
    url, _ = metadata
    provider = credentials_chain(metadata_url=url, metadata_role=ROLE, clock=Clock(T0))
    assert isinstance(provider, EcsRamRoleCredentialsProvider)
    assert provider.get().access_key_id == "STS.key1"


def test_chain_with_half_a_key_pair_names_the_missing_variable() -> None:
    with pytest.raises(CredentialsError, match="ALIBABA_CLOUD_ACCESS_KEY_SECRET is not set"):
        credentials_chain(access_key_id="AK")
    with pytest.raises(CredentialsError, match="ALIBABA_CLOUD_ACCESS_KEY_ID is not set"):
        credentials_chain(access_key_secret="SK")


def test_chain_with_nothing_and_metadata_disabled_names_what_to_set() -> None:
    with pytest.raises(CredentialsError, match="set ALIBABA_CLOUD_ACCESS_KEY_ID and"):
        credentials_chain(metadata_disabled=True)
