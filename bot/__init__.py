"""blogbot: learn a blogger's voice, write posts in it, publish them on a schedule."""

__version__ = "0.1.0"
