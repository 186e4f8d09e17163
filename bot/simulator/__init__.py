"""The bundled ECS simulator: a real HTTP server on loopback that speaks the ECS
OpenAPI (``RebootInstances``, ``DescribeInstances`` with ``InstanceIds`` / ``Tag.N`` /
``InstanceName`` filters and ``OperationLocks``, ``DescribeInstanceStatus``,
``DescribeCloudAssistantStatus``, and the system events:
``DescribeInstanceHistoryEvents``, ``CreateSimulatedSystemEvents``,
``CancelSimulatedSystemEvents``) and STS 2015-04-01 (``AssumeRole``,
``AssumeRoleWithOIDC``, whose temporary keys the ECS side then accepts), checks
signatures and plays instance state changes (docs/PRODUCT.md §8). It can hold several
accounts, each seen only through the role assumed in it (§5.13).

Modules, one job each: ``fleet`` (instances, locks, agents and their state machine),
``api`` (the ECS instance actions and their errors), ``assistant``
(``DescribeCloudAssistantStatus``), ``events`` (system events, their state machine and
actions; ``events_admin`` their ``/_sim/events`` routes), ``sts`` (STS and its temporary
keys), ``accounts`` (member accounts and their roles), ``auth`` (signature and
security-token checks), ``faults`` (fault injection: throttling, errors, lost answers
before and after the effect, reboots still in flight), ``calls`` (the call record),
``server`` (HTTP plumbing), ``admin`` (``/_sim/`` routes), ``simulator`` (wiring),
``cli`` (``ecs-reboot-bot simulator``).
"""

from bot.simulator.calls import Call, CallLog
from bot.simulator.cli import main
from bot.simulator.clock import ManualClock, utc_now
from bot.simulator.errors import ApiError
from bot.simulator.faults import Fault, Faults
from bot.simulator.fleet import Fleet, InstanceView
from bot.simulator.simulator import (
    DEFAULT_ACCESS_KEY_ID,
    DEFAULT_ACCESS_KEY_SECRET,
    Simulator,
)
from bot.simulator.sts import StsService, TemporaryCredentials

__all__ = [
    "DEFAULT_ACCESS_KEY_ID",
    "DEFAULT_ACCESS_KEY_SECRET",
    "ApiError",
    "Call",
    "CallLog",
    "Fault",
    "Faults",
    "Fleet",
    "InstanceView",
    "ManualClock",
    "Simulator",
    "StsService",
    "TemporaryCredentials",
    "main",
    "utc_now",
]
