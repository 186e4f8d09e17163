"""Sending a signed ECS request with as little per-call work as possible.

Use :class:`Sender` where ``httpx.Client.send`` would do: it sends the same bytes with
the same timeouts and raises the same httpx exceptions, by one of two paths chosen once
per endpoint by :meth:`Sender.origin`:

* the fast path, for a plain ``http``/``https`` origin that httpx would reach with its
  default transport (no transport injected, no proxy from the environment): keep-alive
  connections of the standard library's ``http.client`` (``bot/ecs/stdlib_http.py``),
  under half the CPU of httpx's transport per 100-id ``DescribeInstances``
  (docs/decisions/0016);
* otherwise httpx's transport, called directly: an injected one (tests pass
  ``httpx.MockTransport``) or the proxy the environment names. What it leaves out is
  the client's per-request machinery the ECS OpenAPI does not use (auth flows,
  redirects, cookies, event hooks) and httpx re-parsing the long signed URL
  (docs/decisions/0004).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import httpx

from bot.ecs.stdlib_http import CLOSED_MESSAGE as CLOSED_MESSAGE
from bot.ecs.stdlib_http import OriginPool

DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class Origin:
    """Where one endpoint's requests go: its parsed base URL, its ``Host`` header and
    the transport that serves it; ``pool`` when the fast path sends them instead. Built
    once per endpoint by :meth:`Sender.origin`."""

    url: httpx.URL
    host: str
    transport: httpx.BaseTransport
    pool: OriginPool | None = None


def with_encoded_query(base: httpx.URL, encoded_query: str) -> httpx.URL:
    """``base`` with path ``/`` and a query built by ``signing.canonical_query``.

    The same URL as ``base.copy_with(path="/", query=encoded_query.encode())``, without
    httpx validating and re-quoting the query in Python one character at a time (~0.1 ms
    for the 1.7 kB query of a 50-id DescribeInstances, more than signing it). That work
    cannot change such a query: it holds only unreserved characters, ``%XX``, ``=`` and
    ``&``. httpx keeps a URL's parts in the ``_uri_reference`` NamedTuple; a unit test
    checks the result against httpx's own parse, so an httpx that stores them otherwise
    fails the tests instead of sending a different URL.
    """
    url = httpx.URL.__new__(httpx.URL)
    url._uri_reference = base._uri_reference._replace(path="/", query=encoded_query)
    return url


class Sender:
    """POSTs with an empty body to ECS endpoints; one per ``EcsClient``, shared by its
    threads.

    ``transport`` replaces the network (tests pass ``httpx.MockTransport``) and keeps
    every call on httpx; without it, httpx's own choice applies, proxies from the
    environment included, and the origins it would reach directly take the fast path.
    """

    def __init__(self, *, transport: httpx.BaseTransport | None, timeout: httpx.Timeout) -> None:
        # The client is kept for what it decides once: the transport per URL (its mounts
        # hold the environment's proxies) and the default headers; it sends nothing.
        self._client = httpx.Client(transport=transport, timeout=timeout, follow_redirects=False)
        self._timeout = timeout.as_dict()
        # The headers httpx.Client would add (User-Agent, Accept-Encoding, …), in its
        # order: what goes on the wire stays what it was.
        self._default_headers = list(self._client.headers.multi_items())
        self._closed = False
        # The fast path stands in for httpx's default transport only, never for one
        # the caller chose.
        self._fast = transport is None
        self._pools: dict[tuple[str, str, int], OriginPool] = {}
        self._pools_lock = threading.Lock()

    def origin(self, base_url: str) -> Origin:
        """Parse ``base_url`` and pick its transport; callers keep the result."""
        url = httpx.URL(base_url)
        # netloc leaves out a default port, as the Host header httpx would send does.
        host = url.netloc.decode("ascii")
        # Private, but typed and called once per endpoint: the same choice Client.send
        # makes for every request.
        transport = self._client._transport_for_url(url)
        pool = None
        # A mount (a proxy from HTTP(S)_PROXY/ALL_PROXY) is httpx's to drive: only the
        # client's own default transport, the direct connection, is replaced.
        if self._fast and transport is self._client._transport and url.scheme in DEFAULT_PORTS:
            pool = self._pool_for(url)
        return Origin(url, host, transport, pool)

    def _pool_for(self, url: httpx.URL) -> OriginPool:
        key = (url.scheme, url.host, url.port or DEFAULT_PORTS[url.scheme])
        with self._pools_lock:
            if self._closed:
                raise RuntimeError(CLOSED_MESSAGE)
            pool = self._pools.get(key)
            if pool is None:
                # httpx.create_ssl_context() is what the client's default transport
                # builds for verify=True: certifi, or SSL_CERT_FILE / SSL_CERT_DIR.
                context = httpx.create_ssl_context() if url.scheme == "https" else None
                pool = OriginPool(*key, timeout=self._timeout, ssl_context=context)
                self._pools[key] = pool
            return pool

    def post(self, origin: Origin, encoded_query: str, headers: dict[str, str]) -> httpx.Response:
        """Send ``POST /?encoded_query`` with ``headers`` and an empty body; return the
        answer with its body read. Raises what ``httpx.Client.send`` raises."""
        if self._closed:
            raise RuntimeError(CLOSED_MESSAGE)
        if origin.pool is not None:
            return origin.pool.post(f"/?{encoded_query}", self._wire_headers(origin, headers))
        request = httpx.Request(
            "POST",
            with_encoded_query(origin.url, encoded_query),
            headers=[*self._default_headers, *headers.items()],
            content=b"",
            extensions={"timeout": self._timeout},
        )
        response = origin.transport.handle_request(request)
        response.request = request
        try:
            response.read()
        finally:
            response.close()  # hands the connection back to the pool, even on a fault
        return response

    def _wire_headers(self, origin: Origin, headers: dict[str, str]) -> list[tuple[str, str]]:
        """The header lines httpx would write, in its order: Host first (h11 moves it
        there; httpcore adds the origin's when none is given), then Content-Length: 0
        (unless given), the client's defaults and the rest of ``headers``."""
        host: tuple[str, str] | None = None
        rest: list[tuple[str, str]] = []
        has_length = False
        for name, value in headers.items():
            lowered = name.lower()
            if lowered == "host" and host is None:
                host = (name, value)
                continue
            has_length = has_length or lowered == "content-length"
            rest.append((name, value))
        return [
            host or ("Host", origin.host),
            *(() if has_length else (("Content-Length", "0"),)),
            *self._default_headers,
            *rest,
        ]

    def close(self) -> None:
        """Close the pooled connections; later ``post`` calls raise ``RuntimeError``."""
        with self._pools_lock:
            self._closed = True
            pools = list(self._pools.values())
        for pool in pools:
            pool.close()
        self._client.close()
