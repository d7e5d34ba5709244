"""A gunicorn logger class whose access and error logs mask webhook tokens.

    gunicorn --logger-class django_seably.gunicorn.Logger --access-logfile - myproject.wsgi

The webhook view already masks the token in the WSGI environ of every request
it answers, which is what gunicorn's access log reads; this class also covers
requests that never reach the view (a mistyped path, a probe). It masks every
path segment that looks like a token, so it needs no Django setup.
"""

from __future__ import annotations

from typing import Any

from gunicorn.glogging import Logger as GunicornLogger

from django_seably.redact import RedactMessageFilter, redact_url

#: Atoms of gunicorn's access log format that carry the request's path.
PATH_ATOMS = ("r", "U", "f", "{raw_uri}e", "{path_info}e", "{request_uri}e", "{referer}i")


class Logger(GunicornLogger):  # type: ignore[misc,unused-ignore]
    """gunicorn's logger, with webhook tokens masked in the access log and the error log
    (e.g. "Error handling request POST /seably/<token>/" when a worker times out)."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        # After gunicorn's own setup (and any --log-config-json, which keeps a logger's filters).
        if not any(isinstance(f, RedactMessageFilter) for f in self.error_log.filters):
            self.error_log.addFilter(RedactMessageFilter(redact_url))

    def atoms(self, resp: Any, req: Any, environ: Any, request_time: Any) -> dict[str, Any]:
        atoms: dict[str, Any] = super().atoms(resp, req, environ, request_time)
        for key in PATH_ATOMS:
            value = atoms.get(key)
            if isinstance(value, str):
                atoms[key] = redact_url(value)
        return atoms
