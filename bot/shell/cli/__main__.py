"""`python -m bot.shell.cli`: the same as the `blogbot` command."""

import sys

from bot.shell.cli import main

sys.exit(main())
