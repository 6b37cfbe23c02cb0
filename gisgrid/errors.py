"""The gisgrid error tree: each class carries the HTTP status the web layer uses."""

from __future__ import annotations


class GisgridError(Exception):
    """Base of every error gisgrid reports to a person (one clear line)."""

    status = 500
    kind = "error"  # machine-readable category, e.g. in the CLI's --json errors

    def __init__(self, message: str, *, details: list[dict] | None = None, zh: str | None = None):
        super().__init__(message)
        self.message = message
        self.details = details or []
        self.zh = zh  # the same in Chinese, where the web shows it (else the page heads the English)

    def as_dict(self) -> dict:
        return {"error": type(self).__name__, "kind": self.kind, "message": self.message,
                "details": self.details}


class ConfigError(GisgridError):
    """A setting is missing or has a value that is not allowed."""

    status = 500
    kind = "config"


class DatabaseError(GisgridError):
    """The database cannot be reached, started or prepared."""

    status = 503
    kind = "database"


class InputError(GisgridError):
    """A file or argument given by the user cannot be used as it is."""

    status = 400
    kind = "input"


class NotFound(GisgridError):
    """The named grid, employer or generation does not exist."""

    status = 404
    kind = "not_found"


class Forbidden(GisgridError):
    """The user's role may not do this (a scope miss is NotFound: it must not tell what exists)."""

    status = 403
    kind = "forbidden"


class MethodNotAllowed(GisgridError):
    """The request would change something but came as a read (GET): it must be a POST."""

    status = 405
    kind = "method"


class Conflict(GisgridError):
    """The change clashes with the current state (e.g. an active generation)."""

    status = 409
    kind = "conflict"
