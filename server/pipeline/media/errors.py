"""The one error every media reader and writer raises for a file that cannot be used."""

from __future__ import annotations


class MediaError(Exception):
    """A file that cannot be used; `reason` is one short line for logs and API errors."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
