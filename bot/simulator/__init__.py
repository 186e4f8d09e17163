"""The bundled ECS simulator: a real HTTP server on loopback that speaks the ECS
OpenAPI (``RebootInstances``, ``DescribeInstances``, ``DescribeInstanceStatus``),
checks signatures and plays instance state changes (DESIGN.md §8).

Modules, one job each: ``fleet`` (instances and their state machine), ``api`` (the
three actions and their errors), ``auth`` (signature checks), ``faults`` (fault
injection), ``calls`` (the call record), ``server`` (HTTP plumbing), ``admin``
(``/_sim/`` routes), ``simulator`` (wiring), ``cli`` (``ecs-reboot-bot simulator``).
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
    "main",
    "utc_now",
]
