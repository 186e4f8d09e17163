"""``python -m bot.ecs.simulator``: the same as ``ecs-reboot-bot simulator``."""

from bot.ecs.simulator.cli import main

raise SystemExit(main())
