"""Sending a signed ECS request over httpx with as little per-call work as httpx allows.

Use :class:`Sender` where ``httpx.Client.send`` would do: it sends the same bytes
through the same transport (the connection pool, or the proxy the environment names)
with the same timeouts, and raises the same httpx exceptions. What it leaves out is
the client's per-request machinery the ECS OpenAPI does not use (auth flows, redirects,
cookies, event hooks) and httpx re-parsing the long signed URL; together they cost
more CPU than the rest of a 50-id ``DescribeInstances`` call (``bench/ecs_client_vs_sdk.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import httpx

CLOSED_MESSAGE: Final = "Cannot send a request, as the client has been closed."


@dataclass(frozen=True)
class Origin:
    """Where one endpoint's requests go: its parsed base URL, its ``Host`` header and
    the transport that serves it. Built once per endpoint by :meth:`Sender.origin`."""

    url: httpx.URL
    host: str
    transport: httpx.BaseTransport


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
    """POSTs with an empty body to ECS endpoints; one per ``EcsClient``.

    ``transport`` replaces the network (tests pass ``httpx.MockTransport``); without
    it, httpx's own choice applies, proxies from the environment included.
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

    def origin(self, base_url: str) -> Origin:
        """Parse ``base_url`` and pick its transport; callers keep the result."""
        url = httpx.URL(base_url)
        # netloc leaves out a default port, as the Host header httpx would send does.
        host = url.netloc.decode("ascii")
        # Private, but typed and called once per endpoint: the same choice Client.send
        # makes for every request.
        return Origin(url, host, self._client._transport_for_url(url))

    def post(self, origin: Origin, encoded_query: str, headers: dict[str, str]) -> httpx.Response:
        """Send ``POST /?encoded_query`` with ``headers`` and an empty body; return the
        answer with its body read. Raises what ``httpx.Client.send`` raises."""
        if self._closed:
            raise RuntimeError(CLOSED_MESSAGE)
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

    def close(self) -> None:
        """Close the pooled connections; later ``post`` calls raise ``RuntimeError``."""
        self._closed = True
        self._client.close()
