"""Durations written with their unit: ``30s``, ``10m``, ``2h``, ``90d``.

One parser for every command flag that takes a duration, so that no flag means
minutes in one command and days in another (a cron line copied from one to the
other must not empty the database). Settings take a ``datetime.timedelta``.
"""

from __future__ import annotations

import argparse
import datetime
import re

#: Each unit a duration may carry, with the ``timedelta`` argument it stands for.
UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}

#: How to write one, for error messages and help texts.
SYNTAX = "a whole number followed by s (seconds), m (minutes), h (hours) or d (days), e.g. 30s, 10m, 2h, 90d"

_DURATION = re.compile(r"(?P<number>[0-9]+)(?P<unit>[smhd])")


def parse_duration(text: str) -> datetime.timedelta:
    """Return the ``timedelta`` that ``text`` (e.g. ``"10m"``) stands for.

    A bare number is refused, whatever it would have meant before: the unit is
    what makes a cron line safe to read. Raise ValueError naming the units.
    """
    match = _DURATION.fullmatch(text)
    if match is None:
        raise ValueError(f"{text!r} is not a duration: write {SYNTAX}.")
    try:
        return datetime.timedelta(**{UNITS[match["unit"]]: int(match["number"])})
    except OverflowError:
        raise ValueError(f"{text!r} is too long a duration.") from None


def duration_argument(text: str) -> datetime.timedelta:
    """Parse a command-line duration: an argparse ``type=``, so a bad one stops the command before it runs."""
    try:
        return parse_duration(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def format_duration(duration: datetime.timedelta) -> str:
    """Write ``duration`` back in the largest unit that divides it whole: ``"90d"``, ``"30m"``, ``"45s"``."""
    seconds = int(duration.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
