"""``python -m bot`` is the ``ecs-reboot-bot`` command."""

import sys

from bot.cli import main

sys.exit(main())
