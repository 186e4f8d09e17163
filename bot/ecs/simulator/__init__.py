"""The bundled ECS simulator: a real HTTP server on loopback that speaks the ECS
OpenAPI (``RebootInstances``, ``DescribeInstances``, ``DescribeInstanceStatus``),
checks signatures and plays instance state changes (DESIGN.md §8).

Modules, one job each: ``fleet`` (instances and their state machine), ``api`` (the
three actions and their errors), ``auth`` (signature checks), ``faults`` (fault
injection), ``calls`` (the call record), ``server`` (HTTP plumbing), ``admin``
(``/_sim/`` routes), ``simulator`` (wiring), ``cli`` (``ecs-reboot-bot simulator``).
"""

from bot.ecs.simulator.calls import Call, CallLog
from bot.ecs.simulator.cli import main
from bot.ecs.simulator.clock import ManualClock, utc_now
from bot.ecs.simulator.errors import EcsError
from bot.ecs.simulator.faults import Fault, Faults
from bot.ecs.simulator.fleet import Fleet, InstanceView
from bot.ecs.simulator.simulator import (
    DEFAULT_ACCESS_KEY_ID,
    DEFAULT_ACCESS_KEY_SECRET,
    Simulator,
)

__all__ = [
    "DEFAULT_ACCESS_KEY_ID",
    "DEFAULT_ACCESS_KEY_SECRET",
    "Call",
    "CallLog",
    "EcsError",
    "Fault",
    "Faults",
    "Fleet",
    "InstanceView",
    "ManualClock",
    "Simulator",
    "main",
    "utc_now",
]
