"""A gunicorn logger class whose access and error logs mask webhook tokens.

    gunicorn --logger-class django_seably.gunicorn.Logger --access-logfile - myproject.wsgi

The webhook view already masks the token in the WSGI environ of every request
it answers, which is what gunicorn's access log reads; this class also covers
requests that never reach the view (a mistyped path, a probe). It masks every
path segment that looks like a token, so it needs no Django setup.
"""

from __future__ import annotations

import logging
from typing import Any

from gunicorn.glogging import Logger as GunicornLogger

from django_seably.redact import redact_url

#: Atoms of gunicorn's access log format that carry the request's path.
PATH_ATOMS = ("r", "U", "f", "{raw_uri}e", "{path_info}e", "{request_uri}e", "{referer}i")


class RedactUrlFilter(logging.Filter):
    """Rewrite a record's message with token-like path segments masked; never drop a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is not ours to fix
            return True
        redacted = redact_url(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True


class Logger(GunicornLogger):  # type: ignore[misc,unused-ignore]
    """gunicorn's logger, with webhook tokens masked in the access log and the error log
    (e.g. "Error handling request POST /seably/<token>/" when a worker times out)."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        # After gunicorn's own setup (and any --log-config-json, which keeps a logger's filters).
        if not any(isinstance(f, RedactUrlFilter) for f in self.error_log.filters):
            self.error_log.addFilter(RedactUrlFilter())

    def atoms(self, resp: Any, req: Any, environ: Any, request_time: Any) -> dict[str, Any]:
        atoms: dict[str, Any] = super().atoms(resp, req, environ, request_time)
        for key in PATH_ATOMS:
            value = atoms.get(key)
            if isinstance(value, str):
                atoms[key] = redact_url(value)
        return atoms
