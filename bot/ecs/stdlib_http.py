"""Keep-alive connections to one origin over the standard library's ``http.client``.

:class:`OriginPool` is the fast path of :class:`bot.ecs.sender.Sender`: it sends the
request bytes the httpx transport would send and returns an ``httpx.Response``, at less
than half the CPU per call (docs/decisions/0016). Failures come out as the httpx
exceptions ``EcsClient`` already sorts into "not sent" and "maybe sent"; only a failure
to connect, before any byte of the request was written, is a ``ConnectError`` or a
``ConnectTimeout``.

Its responses read their header block with :func:`parse_headers` instead of the email
package's parser, a third of its cost (docs/decisions/0021).
"""

from __future__ import annotations

import email.parser
import http.client
import re
import select
import ssl
import threading
import time
import types
from collections.abc import Sequence
from typing import IO, Final

import httpx

# httpx's own defaults (httpx.Limits of an httpx.Client): at most 20 idle connections
# per pool, none kept idle longer than 5 s. Servers close idle keep-alive connections
# on their own schedule; a connection that has waited less is less likely to be closed
# by the server just as a request goes out on it, the one race the check before reuse
# cannot see, and which would turn a reboot into an "outcome unknown".
CLOSED_MESSAGE: Final = "Cannot send a request, as the client has been closed."

MAX_IDLE: Final = 20
KEEPALIVE_EXPIRY_SECONDS: Final = 5.0

Headers = Sequence[tuple[str, str]]


# http.client's limits on a header block: the length of a line, and how many lines
# (the blank line that ends it included).
MAX_LINE: Final = 65536
MAX_HEADERS: Final = 100
# A line the email package reads as one header and nothing else: a name of printable
# ASCII other than ":" (its ``headerRE``), then the value, with no CR or LF inside.
_PLAIN_HEADER = re.compile(rb"[!-9;-~]+:[^\r\n]*\r?\n")


def parse_headers(
    fp: IO[bytes], _class: type[http.client.HTTPMessage] = http.client.HTTPMessage
) -> http.client.HTTPMessage:
    """What ``http.client.parse_headers`` returns (the same headers, in order), read
    line by line into the message without the email package's ``FeedParser``: 7 µs
    instead of 22 µs for an ECS answer's headers, once per ECS call. A block with any
    other line (folded, a name with spaces, a stray CR) goes to the email package, as
    in http.client. Reads exactly the lines http.client reads, with its limits."""
    lines: list[bytes] = []
    while True:
        line = fp.readline(MAX_LINE + 1)
        if len(line) > MAX_LINE:
            raise http.client.LineTooLong("header line")
        lines.append(line)
        if len(lines) > MAX_HEADERS:
            raise http.client.HTTPException(f"got more than {MAX_HEADERS} headers")
        if line in (b"\r\n", b"\n", b""):
            break
    header_lines = lines[:-1]  # the last one ends the block
    if not all(_PLAIN_HEADER.fullmatch(line) for line in header_lines):
        text = b"".join(lines).decode("iso-8859-1")
        return email.parser.Parser(_class=_class).parsestr(text)
    message = _class()
    for line in header_lines:
        name, _, value = line.decode("iso-8859-1").partition(":")
        # As the email package's compat32 policy stores a header it parsed.
        message[name] = value.lstrip(" \t").rstrip("\r\n")
    return message


class Response(http.client.HTTPResponse):
    """http.client's response, reading its header block with :func:`parse_headers`.

    ``begin`` is http.client's own, run with ``parse_headers`` ours: the status line,
    the body's length, chunking and keep-alive stay the standard library's
    (docs/decisions/0021). Should a later http.client stop calling ``parse_headers``
    there, this is only slower, never different.
    """

    begin = types.FunctionType(
        http.client.HTTPResponse.begin.__code__,
        {**vars(http.client), "parse_headers": parse_headers},
        "begin",
    )


def _set_timeout(connection: http.client.HTTPConnection, seconds: float | None) -> None:
    # A fresh connection still has the connect timeout; a reused one the read timeout.
    sock = connection.sock
    if sock is not None and sock.gettimeout() != seconds:
        sock.settimeout(seconds)


def peer_gone(connection: http.client.HTTPConnection) -> bool:
    """Whether an idle connection cannot carry another request: the peer closed or
    reset it, or sent something nobody asked for (readable while idle, as urllib3's
    ``wait_for_read`` and httpcore's ``is_socket_readable`` decide)."""
    sock = connection.sock
    if sock is None:
        return True
    # Decrypted bytes waiting in the TLS layer are just as unexpected.
    if isinstance(sock, ssl.SSLSocket) and sock.pending():
        return True
    try:
        # poll, not select: select cannot watch a descriptor above FD_SETSIZE (1024).
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        return bool(poller.poll(0))
    except (OSError, ValueError):  # a closed socket has no descriptor left
        return True


class OriginPool:
    """Idle keep-alive connections to ``scheme://host:port``, reused last-in first-out
    (the warmest first, so the extra ones age out); thread-safe.

    ``ssl_context`` is required for ``https``. ``timeout`` is an
    ``httpx.Timeout.as_dict()``: ``connect`` bounds the TCP connect and the TLS
    handshake, ``write`` each send and ``read`` each receive. ``pool`` does not apply:
    a connection is opened whenever none is idle.
    """

    def __init__(
        self,
        scheme: str,
        host: str,
        port: int,
        *,
        timeout: dict[str, float | None],
        ssl_context: ssl.SSLContext | None = None,
        max_idle: int = MAX_IDLE,
        keepalive_expiry: float = KEEPALIVE_EXPIRY_SECONDS,
    ) -> None:
        if scheme == "https" and ssl_context is None:
            raise ValueError("an https origin needs an SSL context")
        self.scheme = scheme
        self.host = host
        self.port = port
        self.ssl_context = ssl_context
        self._connect_timeout = timeout.get("connect")
        self._write_timeout = timeout.get("write")
        self._read_timeout = timeout.get("read")
        self._max_idle = max_idle
        self._keepalive_expiry = keepalive_expiry
        self._lock = threading.Lock()
        # (connection, when it became idle), the most recently used last.
        self._idle: list[tuple[http.client.HTTPConnection, float]] = []
        self._closed = False
        self.opened = 0  # connections made so far: the tests' and benches' window on reuse

    def new_connection(self) -> http.client.HTTPConnection:
        """An unconnected ``HTTPConnection`` or ``HTTPSConnection`` for this origin."""
        connection: http.client.HTTPConnection
        if self.scheme == "https":
            connection = http.client.HTTPSConnection(
                self.host, self.port, timeout=self._connect_timeout, context=self.ssl_context
            )
        else:
            connection = http.client.HTTPConnection(
                self.host, self.port, timeout=self._connect_timeout
            )
        connection.response_class = Response
        return connection

    def post(self, target: str, headers: Headers) -> httpx.Response:
        """Send ``POST target`` with exactly ``headers`` (Host and Content-Length
        included: nothing is added) and an empty body; the answer, its body read and
        decoded as httpx would (``Content-Encoding``)."""
        connection = self._acquire()
        try:
            try:
                _set_timeout(connection, self._write_timeout)
                # skip_host/skip_accept_encoding: ``headers`` carries the signed Host and
                # httpx's Accept-Encoding; http.client would add a second of each.
                connection.putrequest("POST", target, skip_host=True, skip_accept_encoding=True)
                for name, value in headers:
                    connection.putheader(name, value)
                connection.endheaders()
            except TimeoutError as exc:
                raise httpx.WriteTimeout(str(exc) or "write timed out") from exc
            except OSError as exc:
                # Part of the request may have gone out: a write error, never "not sent".
                raise httpx.WriteError(str(exc) or type(exc).__name__) from exc
            try:
                _set_timeout(connection, self._read_timeout)
                answer = connection.getresponse()
                body = answer.read()
            except TimeoutError as exc:
                raise httpx.ReadTimeout(str(exc) or "read timed out") from exc
            except http.client.RemoteDisconnected as exc:
                # Checked before reuse, so the server closed it after the request was
                # sent: it may have acted on the request. Never a server answer.
                raise httpx.RemoteProtocolError(
                    "Server disconnected without sending a response."
                ) from exc
            except (http.client.HTTPException, ValueError) as exc:
                # A malformed or truncated answer (IncompleteRead, BadStatusLine, …).
                raise httpx.RemoteProtocolError(str(exc) or type(exc).__name__) from exc
            except OSError as exc:
                raise httpx.ReadError(str(exc) or type(exc).__name__) from exc
        except BaseException:
            connection.close()
            raise
        if answer.will_close or connection.sock is None:
            connection.close()
        else:
            self._release(connection)
        # Bytes, as httpcore hands them over: header values are Latin-1 on the wire, and
        # httpx would refuse a non-ASCII str.
        return httpx.Response(
            answer.status,
            headers=[
                (name.encode("latin-1"), value.encode("latin-1"))
                for name, value in answer.getheaders()
            ],
            content=body,
        )

    def close(self) -> None:
        """Close the idle connections; those in use are closed when handed back."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for connection, _ in idle:
            connection.close()

    def idle_count(self) -> int:
        with self._lock:
            return len(self._idle)

    def _acquire(self) -> http.client.HTTPConnection:
        while True:
            with self._lock:
                if self._closed:
                    raise RuntimeError(CLOSED_MESSAGE)
                if not self._idle:
                    break
                connection, since = self._idle.pop()
            if time.monotonic() - since > self._keepalive_expiry or peer_gone(connection):
                connection.close()
                continue
            return connection
        connection = self.new_connection()
        try:
            # Connect (and shake hands) before writing anything: a failure here is the
            # only one that certainly sent nothing.
            connection.connect()
        except TimeoutError as exc:
            connection.close()
            raise httpx.ConnectTimeout(str(exc) or "connect timed out") from exc
        except OSError as exc:  # refused, unreachable, DNS, TLS handshake or certificate
            connection.close()
            raise httpx.ConnectError(str(exc) or type(exc).__name__) from exc
        with self._lock:
            self.opened += 1
        return connection

    def _release(self, connection: http.client.HTTPConnection) -> None:
        with self._lock:
            if not self._closed and len(self._idle) < self._max_idle:
                self._idle.append((connection, time.monotonic()))
                return
        connection.close()
