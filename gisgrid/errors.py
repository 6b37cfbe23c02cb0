"""The gisgrid error tree: each class carries the HTTP status the web layer uses."""

from __future__ import annotations


class GisgridError(Exception):
    """Base of every error gisgrid reports to a person (one clear line)."""

    status = 500

    def __init__(self, message: str, *, details: list[dict] | None = None):
        super().__init__(message)
        self.message = message
        self.details = details or []

    def as_dict(self) -> dict:
        return {"error": type(self).__name__, "message": self.message, "details": self.details}


class ConfigError(GisgridError):
    """A setting is missing or has a value that is not allowed."""

    status = 500


class DatabaseError(GisgridError):
    """The database cannot be reached, started or prepared."""

    status = 503


class InputError(GisgridError):
    """A file or argument given by the user cannot be used as it is."""

    status = 400


class NotFound(GisgridError):
    """The named grid, employer or generation does not exist."""

    status = 404


class Conflict(GisgridError):
    """The change clashes with the current state (e.g. an active generation)."""

    status = 409
