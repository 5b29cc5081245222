"""One Strawberry type per module."""
