"""The bot's one exception tree. Adapters turn their failures into these; the Slack
layer turns these into a reply that says what to do.

    BotError
    ├── EcsError                  the ECS API refused or failed a call (code, RequestId)
    │   ├── EcsTransientError     throttling, 5xx, connection faults that outlived retries
    │   └── EcsOutcomeUnknown     a real reboot call whose answer was lost (resolved, §5.4)
    ├── CredentialsError          no usable Alibaba Cloud credentials
    └── StoreUnavailable          the database did not answer
"""

from __future__ import annotations


class BotError(Exception):
    """Base of every error the bot raises on purpose."""


class EcsError(BotError):
    """An error answer (or failure) of the ECS OpenAPI.

    ``explanation`` is the catalogue's sentence a person can act on; ``code`` and
    ``request_id`` are what Alibaba Cloud support asks for.
    """

    def __init__(
        self,
        code: str,
        message: str,
        *,
        explanation: str,
        request_id: str | None = None,
        http_status: int | None = None,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.explanation = explanation
        self.request_id = request_id
        self.http_status = http_status

    def describe(self) -> str:
        """One line for people: the explanation, then the code and RequestId."""
        suffix = f" (code {self.code}"
        suffix += f", RequestId {self.request_id})" if self.request_id else ")"
        return self.explanation + suffix


class EcsTransientError(EcsError):
    """Throttling, ServiceUnavailable, InternalError, 5xx or a connection fault that was
    still failing after the bounded retries."""


class EcsOutcomeUnknown(EcsError):
    """A non-dry ``RebootInstances`` call timed out or got a 5xx: the reboot may or may
    not have happened, so it was not re-sent. Look at the instances before deciding."""


class CredentialsError(BotError):
    """No Alibaba Cloud credentials could be found or refreshed."""


class StoreUnavailable(BotError):
    """The database did not answer."""
