"""A gunicorn logger class whose access and error logs mask webhook tokens.

    gunicorn --logger-class django_seably.gunicorn.Logger --access-logfile - myproject.wsgi

The webhook view already masks the token in the WSGI environ of every request
it answers, and the app adds the same filter to gunicorn's loggers once Django
is set up; this class installs it from the start, in the master process too, so
every line is covered: requests that never reach the view (a mistyped or oddly
spelled path, a probe), requests gunicorn refuses itself (a bad request line,
invalid chunked framing: "Invalid request from ip=…"), the request line the
default ``pre_request`` hook logs at debug level, and "Error handling request"
when a worker fails. It also works with the uvicorn worker
(``-k uvicorn_worker.UvicornWorker``), which writes uvicorn's lines through
gunicorn's handlers.
"""

from __future__ import annotations

from typing import Any

from gunicorn.glogging import Logger as GunicornLogger

from django_seably.redact import install_log_filters


class Logger(GunicornLogger):  # type: ignore[misc,unused-ignore]
    """gunicorn's logger, with webhook tokens masked in every line of the access and error logs."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        # After gunicorn's own setup (and any --log-config-json, which keeps a logger's filters).
        install_log_filters((self.error_log, self.access_log))
