"""``python -m bot.simulator``: the same as ``ecs-reboot-bot simulator``."""

from bot.simulator.cli import main

raise SystemExit(main())
