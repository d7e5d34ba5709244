from __future__ import annotations

import datetime
import logging
from types import SimpleNamespace

import pytest

pytest.importorskip("gunicorn", reason="gunicorn is in requirements/test.txt")

from gunicorn.config import Config  # noqa: E402

from django_seably.gunicorn import Logger  # noqa: E402

TOKEN = "q2V0abcdefghijklmnopqrstuvwxyz0123456789ABC"


class _Lines(logging.Handler):
    def __init__(self):
        super().__init__()
        self.lines = []

    def emit(self, record):
        self.lines.append(record.getMessage())


def access_line(path):
    config = Config()
    config.set("accesslog", "/dev/null")
    logger = Logger(config)
    lines = _Lines()
    logger.access_log.addHandler(lines)
    environ = {
        "REQUEST_METHOD": "POST",
        "RAW_URI": path,
        "PATH_INFO": path,
        "SERVER_PROTOCOL": "HTTP/1.1",
        "QUERY_STRING": "",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_REFERER": f"https://example.com{path}",
    }
    response = SimpleNamespace(status="404 Not Found", sent=12, headers=[])
    request = SimpleNamespace(headers=[("REFERER", f"https://example.com{path}")])
    logger.access(response, request, environ, datetime.timedelta(milliseconds=3))
    return "\n".join(lines.lines)


def test_access_log_masks_token_segments():
    line = access_line(f"/seably/{TOKEN}/")

    assert TOKEN not in line
    assert '"POST /seably/q2V0…/ HTTP/1.1" 404' in line


def test_access_log_keeps_ordinary_paths():
    line = access_line("/admin/django_seably/webhookevent/")

    assert '"POST /admin/django_seably/webhookevent/ HTTP/1.1" 404' in line


@pytest.mark.parametrize(
    ("path", "masked"),
    [
        (f"/seably/%71{TOKEN[1:]}/", "/seably/%712…/"),
        (f"//seably/{TOKEN}/", "//seably/q2V0…/"),
        (f"/Seably/{TOKEN}/", "/Seably/q2V0…/"),
        (f"/seably/{TOKEN};x", "/seably/q2V0…"),
        (f"/seably/{TOKEN}.json", "/seably/q2V0…"),
        (f"/seably/{TOKEN}/?t={TOKEN}", "/seably/q2V0…/?t=q2V0…"),
    ],
)
def test_access_log_masks_every_spelling(path, masked):
    line = access_line(path)

    assert TOKEN not in line
    assert TOKEN[1:] not in line
    assert f'"POST {masked} HTTP/1.1" 404' in line


def test_error_log_masks_token_segments():
    config = Config()
    logger = Logger(config)
    lines = _Lines()
    logger.error_log.addHandler(lines)

    logger.error("Error handling request %s", f"POST /seably/{TOKEN}/")

    assert lines.lines == ["Error handling request POST /seably/q2V0…/"]


@pytest.mark.parametrize(
    "message",
    [
        # gunicorn's default pre_request hook, at debug level.
        ("%s %s", ("POST", f"/seably/{TOKEN};x")),
        # A request line gunicorn refuses itself.
        ("Invalid request from ip=127.0.0.1: Invalid HTTP Version: %r", (f"POST /seably/{TOKEN}/ HTTP/1.1 x",)),
    ],
)
def test_error_log_masks_debug_and_refused_request_lines(message):
    config = Config()
    config.set("loglevel", "debug")
    logger = Logger(config)
    lines = _Lines()
    logger.error_log.addHandler(lines)

    logger.debug(message[0], *message[1])

    assert len(lines.lines) == 1
    assert TOKEN not in lines.lines[0]
    assert "q2V0…" in lines.lines[0]


def test_the_filter_is_installed_once_per_logger():
    config = Config()
    logger = Logger(config)
    logger.setup(config)

    for log in (logger.error_log, logger.access_log):
        assert sum(type(f).__name__ == "RedactTokensFilter" for f in log.filters) == 1
