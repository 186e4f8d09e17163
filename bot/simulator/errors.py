"""The one error type the simulator answers with, and the JSON body ECS sends for it."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An ECS OpenAPI error: HTTP status, ``Code`` and ``Message`` as the real API sends."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message

    def body(self, request_id: str, host_id: str) -> dict[str, Any]:
        return {
            "RequestId": request_id,
            "HostId": host_id,
            "Code": self.code,
            "Message": self.message,
            "Recommend": (
                f"https://api.aliyun.com/troubleshoot?q={self.code}"
                f"&product=Ecs&requestId={request_id}"
            ),
        }


def missing_parameter(name: str) -> ApiError:
    return ApiError(
        400,
        "MissingParameter",
        f'The input parameter "{name}" that is mandatory for processing this request '
        "is not supplied.",
    )


def invalid_parameter(name: str, detail: str = "") -> ApiError:
    suffix = f" {detail}" if detail else ""
    return ApiError(
        400, "InvalidParameter", f"The specified parameter {name} is not valid.{suffix}"
    )
