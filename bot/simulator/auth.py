"""Signature checks for requests reaching the simulator, as the real ECS endpoint does.

Both schemes of ``docs/ECS-API.md`` ("Signing") are verified with
``bot.ecs.signing`` — the same code the bot signs with — while the tests use the
official SDK as the independent oracle. Checks run in the order that leaks least: the
key must exist, the timestamp must be fresh, the signature must match, and only then is
the nonce spent (a forged request cannot burn a legitimate client's nonce).
"""

from __future__ import annotations

import hashlib
import threading
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot.ecs import signing
from bot.simulator.clock import Clock
from bot.simulator.errors import ApiError, missing_parameter
from bot.simulator.sts import TemporaryCredentials

MAX_SKEW = timedelta(minutes=15)
_TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
_V1_REQUIRED = ("AccessKeyId", "SignatureMethod", "SignatureVersion", "SignatureNonce", "Timestamp")


@dataclass(frozen=True)
class Caller:
    """Who signed a request, and how."""

    access_key_id: str
    signature_version: str  # "v3" or "v1"


def signature_mismatch(string_to_sign: str) -> ApiError:
    # ECS echoes its string-to-sign so a client author can diff it with their own;
    # it holds no secret.
    return ApiError(
        400,
        "SignatureDoesNotMatch",
        "Specified signature is not matched with our calculation. "
        f"server string to sign is:{string_to_sign}",
    )


class NonceRegistry:
    """Nonces seen within the timestamp window; older ones can never be replayed anyway
    (their timestamp would be refused), so they are forgotten in arrival order."""

    def __init__(self, clock: Clock, keep: timedelta = 2 * MAX_SKEW) -> None:
        self._clock = clock
        self._keep = keep
        self._seen: set[str] = set()
        self._arrivals: deque[tuple[datetime, str]] = deque()
        self._lock = threading.Lock()

    def spend(self, nonce: str) -> bool:
        """Record ``nonce``; False when it was already used."""
        now = self._clock()
        with self._lock:
            while self._arrivals and now - self._arrivals[0][0] > self._keep:
                self._seen.discard(self._arrivals.popleft()[1])
            if nonce in self._seen:
                return False
            self._seen.add(nonce)
            self._arrivals.append((now, nonce))
            return True


class Authenticator:
    """Verifies V3 (ACS3-HMAC-SHA256) and V1 (HMAC-SHA1) signed requests.

    ``temporary`` looks up keys issued by STS: those need their security token
    (``x-acs-security-token`` / ``SecurityToken``) and are refused once expired.
    """

    def __init__(
        self,
        keys: Mapping[str, str],
        clock: Clock,
        security_token: str | None = None,
        temporary: Callable[[str], TemporaryCredentials | None] | None = None,
    ) -> None:
        self._keys = dict(keys)
        self._clock = clock
        self._security_token = security_token
        self._temporary = temporary
        self._nonces = NonceRegistry(clock)

    def verify_v3(
        self,
        method: str,
        path: str,
        query: Mapping[str, str],
        headers: Mapping[str, str],
        body: bytes,
    ) -> Caller:
        """Check a request carrying ``Authorization: ACS3-HMAC-SHA256 …``.

        ``headers`` must have lower-case names.
        """
        raw = headers.get("authorization")
        if not raw:
            raise missing_parameter("Authorization")
        parsed = signing.parse_v3_authorization(raw)
        if parsed is None:
            raise _incomplete("The Authorization header is not a valid ACS3-HMAC-SHA256 one.")
        for required in ("x-acs-date", "x-acs-signature-nonce", "x-acs-content-sha256"):
            if required not in headers:
                raise missing_parameter(required)
        signed = set(parsed.signed_headers)
        unsigned = [
            name
            for name in headers
            if (name == "host" or name.startswith("x-acs-")) and name not in signed
        ]
        if unsigned:
            raise _incomplete(f"These headers must be signed: {', '.join(sorted(unsigned))}.")
        missing = [name for name in parsed.signed_headers if name not in headers]
        if missing:
            raise _incomplete(f"Signed headers not sent: {', '.join(missing)}.")

        secret = self._secret(parsed.access_key_id)
        self._check_time(headers["x-acs-date"])
        payload_hash = headers["x-acs-content-sha256"]
        if hashlib.sha256(body).hexdigest() != payload_hash.lower():
            raise ApiError(
                400,
                "SignatureDoesNotMatch",
                "The x-acs-content-sha256 header does not match the request body.",
            )
        canonical = signing.v3_canonical_request(
            method, path, query, headers, parsed.signed_headers, payload_hash
        )
        expected = signing.v3_signature(secret, canonical)
        if not signing.constant_time_equal(expected, parsed.signature.lower()):
            string_to_sign = (
                f"{signing.V3_ALGORITHM}\n{hashlib.sha256(canonical.encode('utf-8')).hexdigest()}"
            )
            raise signature_mismatch(string_to_sign)
        self._check_token(parsed.access_key_id, headers.get("x-acs-security-token"))
        self._spend(headers["x-acs-signature-nonce"])
        return Caller(parsed.access_key_id, "v3")

    def verify_v1(self, method: str, params: Mapping[str, str]) -> Caller:
        """Check an RPC request signed with ``Signature`` (HMAC-SHA1) among its params."""
        signature = params.get("Signature")
        if not signature:
            raise missing_parameter("Signature")
        for name in _V1_REQUIRED:
            if not params.get(name):
                raise missing_parameter(name)
        if params["SignatureMethod"] != "HMAC-SHA1" or params["SignatureVersion"] != "1.0":
            raise _incomplete("SignatureMethod must be HMAC-SHA1 and SignatureVersion 1.0.")
        secret = self._secret(params["AccessKeyId"])
        self._check_time(params["Timestamp"])
        expected = signing.v1_signature(method, params, secret)
        if not signing.constant_time_equal(expected, signature):
            unsigned = {name: value for name, value in params.items() if name != "Signature"}
            raise signature_mismatch(signing.v1_string_to_sign(method, unsigned))
        self._check_token(params["AccessKeyId"], params.get("SecurityToken"))
        self._spend(params["SignatureNonce"])
        return Caller(params["AccessKeyId"], "v1")

    # --- steps ----------------------------------------------------------------------

    def _secret(self, access_key_id: str) -> str:
        secret = self._keys.get(access_key_id)
        if secret is None and self._temporary is not None:
            issued = self._temporary(access_key_id)
            secret = issued.access_key_secret if issued is not None else None
        if secret is None:
            raise ApiError(404, "InvalidAccessKeyId.NotFound", "Specified access key is not found.")
        return secret

    def _check_time(self, stamp: str) -> None:
        try:
            moment = datetime.strptime(stamp, _TIMESTAMP_FORMAT).replace(tzinfo=UTC)
        except ValueError:
            raise ApiError(
                400,
                "InvalidTimeStamp.Format",
                "Specified time stamp or date value is not well formatted.",
            ) from None
        if abs(self._clock() - moment) > MAX_SKEW:
            raise ApiError(
                400, "InvalidTimeStamp.Expired", "Specified time stamp or date value is expired."
            )

    def _check_token(self, access_key_id: str, token: str | None) -> None:
        issued = None
        if access_key_id not in self._keys and self._temporary is not None:
            issued = self._temporary(access_key_id)
        if issued is not None:
            if not token or not signing.constant_time_equal(token, issued.security_token):
                raise ApiError(
                    400,
                    "InvalidSecurityToken.Mismatch",
                    "Specified SecurityToken mismatch with the AccessKey.",
                )
            if self._clock() >= issued.expiration:
                raise ApiError(
                    400, "InvalidSecurityToken.Expired", "Specified SecurityToken is expired."
                )
            return
        # With a token configured the key pair stands for STS credentials and needs it;
        # without one, a token sent along is one this simulator never issued.
        expected = self._security_token
        if expected is None and not token:
            return
        if token is None or expected is None or not signing.constant_time_equal(token, expected):
            raise ApiError(
                400,
                "InvalidSecurityToken.Mismatch",
                "Specified SecurityToken mismatch with the AccessKey.",
            )

    def _spend(self, nonce: str) -> None:
        if not self._nonces.spend(nonce):
            raise ApiError(400, "SignatureNonceUsed", "Specified signature nonce was used already.")


def _incomplete(detail: str) -> ApiError:
    return ApiError(
        400,
        "IncompleteSignature",
        f"The request signature does not conform to Aliyun standards. {detail}",
    )
