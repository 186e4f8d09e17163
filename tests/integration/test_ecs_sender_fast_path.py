"""The Sender's standard-library fast path against real servers on loopback.

A tiny HTTP server written on raw sockets plays each behaviour a peer can have (keep
the connection, close it while idle, answer ``Connection: close``, never answer, drop
the connection after reading the request, truncate the answer) and counts the
connections it accepted. The httpx path (an ``httpx.HTTPTransport`` passed in, so the
Sender keeps httpx) is the reference for what goes on the wire.
"""

from __future__ import annotations

import datetime
import gzip
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from bot.domain.errors import EcsOutcomeUnknown
from bot.ecs.client import EcsClient
from bot.ecs.credentials import StaticCredentialsProvider
from bot.ecs.sender import Origin, Sender
from bot.ecs.wire import RetryPolicy

TIMEOUT = httpx.Timeout(2.0, connect=2.0)
QUERY = "Action=DescribeInstances&InstanceIds=%5B%22i-1%22%5D&RegionId=cn-hangzhou"
BODY = b'{"RequestId":"r-1","Instances":{"Instance":[]}}'


def answer(
    body: bytes = BODY, *, headers: tuple[tuple[str, str], ...] = (), status: str = "200 OK"
) -> bytes:
    lines = [
        f"HTTP/1.1 {status}",
        "Content-Type: application/json;charset=utf-8",
        "x-acs-request-id: r-1",
        *(f"{name}: {value}" for name, value in headers),
    ]
    if not any(name.lower() in ("content-length", "transfer-encoding") for name, _ in headers):
        lines.append(f"Content-Length: {len(body)}")
    return "\r\n".join([*lines, "", ""]).encode("latin-1") + body


# A behaviour: given the connection's socket, the request's number on that connection
# (0 for the first) and its bytes, answer it; False closes the connection.
Behaviour = Callable[[socket.socket, int, bytes], bool]


def keep_alive(sock: socket.socket, index: int, request: bytes) -> bool:
    sock.sendall(answer())
    return True


class Server:
    """HTTP/1.1 on 127.0.0.1, one thread per connection, requests read up to the blank
    line (the ECS calls have an empty body)."""

    def __init__(self, behaviour: Behaviour, *, tls: ssl.SSLContext | None = None) -> None:
        self.behaviour = behaviour
        self.tls = tls
        self.requests: list[bytes] = []
        self.connections = 0
        self.closed = 0  # connections that ended, either side closing
        self.stop = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        self.lock = threading.Lock()
        self.ended = threading.Condition(self.lock)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
            threading.Thread(target=self._serve, args=(sock,), daemon=True).start()

    def _serve(self, sock: socket.socket) -> None:
        try:
            if self.tls is not None:
                sock = self.tls.wrap_socket(sock, server_side=True)
            data = b""
            index = 0
            while True:
                while b"\r\n\r\n" not in data:
                    chunk = sock.recv(65536)
                    if not chunk:
                        return
                    data += chunk
                request, _, data = data.partition(b"\r\n\r\n")
                with self.lock:
                    self.requests.append(request + b"\r\n\r\n")
                if not self.behaviour(sock, index, request):
                    return
                index += 1
        except OSError:
            return
        finally:
            sock.close()
            with self.lock:
                self.closed += 1
                self.ended.notify_all()

    def wait_closed(self, count: int) -> None:
        with self.lock:
            assert self.ended.wait_for(lambda: self.closed >= count, timeout=5)

    def close(self) -> None:
        self.stop.set()
        self.listener.close()


@pytest.fixture
def serve() -> Iterator[Callable[..., Server]]:
    servers: list[Server] = []

    def start(behaviour: Behaviour = keep_alive, **options: ssl.SSLContext) -> Server:
        servers.append(Server(behaviour, **options))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


@pytest.fixture
def sender() -> Iterator[Sender]:
    made = Sender(transport=None, timeout=TIMEOUT)
    yield made
    made.close()


def fast_origin(sender: Sender, url: str) -> Origin:
    origin = sender.origin(url)
    assert origin.pool is not None, "the fast path should serve a plain loopback origin"
    return origin


def signed(server: Server) -> dict[str, str]:
    return {"host": f"127.0.0.1:{server.port}", "x-acs-action": "DescribeInstances"}


def test_the_answer_and_its_headers_are_read(serve: Callable[..., Server], sender: Sender) -> None:
    server = serve()
    response = sender.post(fast_origin(sender, server.url), QUERY, signed(server))
    assert response.status_code == 200
    assert response.content == BODY
    assert response.json()["RequestId"] == "r-1"
    assert response.headers["x-acs-request-id"] == "r-1"
    assert response.headers["content-type"] == "application/json;charset=utf-8"


def test_the_fast_path_sends_the_bytes_httpx_sends(
    serve: Callable[..., Server], sender: Sender
) -> None:
    server = serve()
    for headers in (signed(server), {"Host": f"127.0.0.1:{server.port}", "X-Acs-Action": "A"}):
        sender.post(fast_origin(sender, server.url), QUERY, headers)
        reference = Sender(transport=httpx.HTTPTransport(), timeout=TIMEOUT)
        origin = reference.origin(server.url)
        assert origin.pool is None
        reference.post(origin, QUERY, headers)
        reference.close()
        fast, via_httpx = server.requests[-2:]
        assert fast == via_httpx
        assert fast.startswith(f"POST /?{QUERY} HTTP/1.1\r\n".encode())
        assert fast.lower().count(b"\r\nhost:") == 1


def test_keep_alive_reuses_one_connection(serve: Callable[..., Server], sender: Sender) -> None:
    server = serve()
    origin = fast_origin(sender, server.url)
    for _ in range(5):
        assert sender.post(origin, QUERY, signed(server)).status_code == 200
    assert server.connections == 1
    assert origin.pool is not None
    assert origin.pool.opened == 1
    # Two origins of one endpoint (two regions on one URL) share the pool.
    assert sender.origin(server.url).pool is origin.pool


def test_a_connection_the_server_closed_while_idle_is_not_reused(
    serve: Callable[..., Server], sender: Sender
) -> None:
    def answer_then_close(sock: socket.socket, index: int, request: bytes) -> bool:
        sock.sendall(answer())  # no "Connection: close": the client believes it open
        return False

    server = serve(answer_then_close)
    origin = fast_origin(sender, server.url)
    assert sender.post(origin, QUERY, signed(server)).status_code == 200
    assert origin.pool is not None
    assert origin.pool.idle_count() == 1
    server.wait_closed(1)
    time.sleep(0.05)  # the FIN crosses loopback
    assert sender.post(origin, QUERY, signed(server)).status_code == 200
    assert server.connections == 2
    assert len(server.requests) == 2  # nothing was written to the dead connection


def test_connection_close_answers_are_not_kept(
    serve: Callable[..., Server], sender: Sender
) -> None:
    def close_each(sock: socket.socket, index: int, request: bytes) -> bool:
        sock.sendall(answer(headers=(("Connection", "close"),)))
        return False

    server = serve(close_each)
    origin = fast_origin(sender, server.url)
    for _ in range(3):
        assert sender.post(origin, QUERY, signed(server)).content == BODY
    assert server.connections == 3
    assert origin.pool is not None
    assert origin.pool.idle_count() == 0


def test_an_answer_read_until_the_server_closes(
    serve: Callable[..., Server], sender: Sender
) -> None:
    def no_length(sock: socket.socket, index: int, request: bytes) -> bool:
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n" + BODY)
        return False

    server = serve(no_length)
    origin = fast_origin(sender, server.url)
    assert sender.post(origin, QUERY, signed(server)).content == BODY
    assert origin.pool is not None
    assert origin.pool.idle_count() == 0


def test_chunked_and_gzip_answers_are_decoded(serve: Callable[..., Server], sender: Sender) -> None:
    def chunked_gzip(sock: socket.socket, index: int, request: bytes) -> bool:
        packed = gzip.compress(BODY)
        chunks = b"".join(
            b"%x\r\n%b\r\n" % (len(packed[i : i + 7]), packed[i : i + 7])
            for i in range(0, len(packed), 7)
        )
        headers = (("Transfer-Encoding", "chunked"), ("Content-Encoding", "gzip"))
        sock.sendall(answer(chunks + b"0\r\n\r\n", headers=headers))
        return True

    server = serve(chunked_gzip)
    origin = fast_origin(sender, server.url)
    assert sender.post(origin, QUERY, signed(server)).content == BODY
    assert sender.post(origin, QUERY, signed(server)).content == BODY
    assert server.connections == 1


def test_an_error_status_is_an_answer(serve: Callable[..., Server], sender: Sender) -> None:
    def throttle(sock: socket.socket, index: int, request: bytes) -> bool:
        sock.sendall(answer(b'{"Code":"Throttling"}', status="503 Service Unavailable"))
        return True

    server = serve(throttle)
    response = sender.post(fast_origin(sender, server.url), QUERY, signed(server))
    assert (response.status_code, response.json()) == (503, {"Code": "Throttling"})


def test_connect_refused_is_a_connect_error(sender: Sender) -> None:
    with socket.create_server(("127.0.0.1", 0)) as placeholder:
        port = placeholder.getsockname()[1]
    origin = fast_origin(sender, f"http://127.0.0.1:{port}")
    with pytest.raises(httpx.ConnectError):
        sender.post(origin, QUERY, {"host": f"127.0.0.1:{port}"})


def test_a_server_that_never_answers_is_a_read_timeout(serve: Callable[..., Server]) -> None:
    release = threading.Event()

    def never(sock: socket.socket, index: int, request: bytes) -> bool:
        release.wait(10)
        return False

    server = serve(never)
    sender = Sender(transport=None, timeout=httpx.Timeout(0.3, connect=2.0))
    try:
        with pytest.raises(httpx.ReadTimeout):
            sender.post(fast_origin(sender, server.url), QUERY, signed(server))
    finally:
        release.set()
        sender.close()


@pytest.mark.parametrize("reused", [False, True], ids=["new-connection", "reused-connection"])
def test_a_server_that_closes_after_reading_the_request_may_have_acted(
    serve: Callable[..., Server], sender: Sender, reused: bool
) -> None:
    def drop(sock: socket.socket, index: int, request: bytes) -> bool:
        if reused and index == 0:
            sock.sendall(answer())
            return True
        return False

    server = serve(drop)
    origin = fast_origin(sender, server.url)
    if reused:
        sender.post(origin, QUERY, signed(server))
    with pytest.raises(httpx.TransportError) as raised:
        sender.post(origin, QUERY, signed(server))
    assert not isinstance(raised.value, httpx.ConnectError | httpx.ConnectTimeout)
    assert isinstance(raised.value, httpx.RemoteProtocolError)
    assert server.requests[-1].startswith(b"POST /?")  # it did reach the server
    assert origin.pool is not None
    assert origin.pool.idle_count() == 0


def test_a_truncated_answer_is_a_protocol_error(
    serve: Callable[..., Server], sender: Sender
) -> None:
    def truncate(sock: socket.socket, index: int, request: bytes) -> bool:
        sock.sendall(answer(headers=(("Content-Length", "1000"),)))
        return False

    server = serve(truncate)
    with pytest.raises(httpx.RemoteProtocolError):
        sender.post(fast_origin(sender, server.url), QUERY, signed(server))


def test_a_malformed_status_line_is_a_protocol_error(
    serve: Callable[..., Server], sender: Sender
) -> None:
    def garbage(sock: socket.socket, index: int, request: bytes) -> bool:
        sock.sendall(b"SSH-2.0-OpenSSH_9.6\r\n")
        return False

    server = serve(garbage)
    with pytest.raises(httpx.RemoteProtocolError):
        sender.post(fast_origin(sender, server.url), QUERY, signed(server))


def test_a_reboot_whose_connection_drops_is_an_unknown_outcome(
    serve: Callable[..., Server],
) -> None:
    server = serve(lambda sock, index, request: False)
    client = EcsClient(
        credentials=StaticCredentialsProvider("ak", "secret"),
        endpoint=server.url,
        retry=RetryPolicy(max_attempts=3),
        sleep=lambda seconds: None,
    )
    try:
        with pytest.raises(EcsOutcomeUnknown):
            client.reboot("cn-hangzhou", ["i-1"], force=False)
    finally:
        client.close()
    assert len(server.requests) == 1  # sent once, never again


def test_threads_share_the_pool(serve: Callable[..., Server], sender: Sender) -> None:
    server = serve()
    origin = fast_origin(sender, server.url)
    failures: list[BaseException] = []

    def calls() -> None:
        try:
            for _ in range(25):
                assert sender.post(origin, QUERY, signed(server)).content == BODY
        except BaseException as exc:  # reported below, not lost in the thread
            failures.append(exc)

    threads = [threading.Thread(target=calls) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert failures == []
    assert len(server.requests) == 200
    assert server.connections <= 8


def test_close_closes_the_idle_connections(serve: Callable[..., Server]) -> None:
    server = serve()
    sender = Sender(transport=None, timeout=TIMEOUT)
    origin = fast_origin(sender, server.url)
    sender.post(origin, QUERY, signed(server))
    sender.close()
    server.wait_closed(1)
    with pytest.raises(RuntimeError):
        sender.post(origin, QUERY, signed(server))


def test_idle_connections_expire(serve: Callable[..., Server], sender: Sender) -> None:
    server = serve()
    origin = fast_origin(sender, server.url)
    assert origin.pool is not None
    origin.pool._keepalive_expiry = 0.0  # every idle connection is already too old
    sender.post(origin, QUERY, signed(server))
    sender.post(origin, QUERY, signed(server))
    assert server.connections == 2


def test_https_with_the_context_httpx_builds(
    serve: Callable[..., Server], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real TLS server whose CA is trusted only through SSL_CERT_FILE, which httpx's
    context honours: the fast path verifies the certificate as httpx would."""
    ca_file, server_context = tls_server_context(tmp_path)
    server = serve(tls=server_context)
    url = f"https://localhost:{server.port}"
    headers = {"host": f"localhost:{server.port}", "x-acs-action": "DescribeInstances"}

    untrusting = Sender(transport=None, timeout=TIMEOUT)
    with pytest.raises(httpx.ConnectError):  # certifi does not know our CA
        untrusting.post(fast_origin(untrusting, url), QUERY, headers)
    untrusting.close()

    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
    trusting = Sender(transport=None, timeout=TIMEOUT)
    origin = fast_origin(trusting, url)
    try:
        for _ in range(3):
            assert trusting.post(origin, QUERY, headers).content == BODY
    finally:
        trusting.close()
    assert server.connections == 2  # one refused handshake, then one kept alive


def tls_server_context(tmp_path: Path) -> tuple[Path, ssl.SSLContext]:
    """(CA file, server context with a certificate for localhost signed by that CA)."""
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    start = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=1)
    end = start + datetime.timedelta(days=1)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ecs-reboot-bot test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_file = tmp_path / "ca.pem"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    chain = tmp_path / "server.pem"
    chain.write_bytes(
        cert.public_bytes(serialization.Encoding.PEM)
        + key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(chain)
    return ca_file, context
