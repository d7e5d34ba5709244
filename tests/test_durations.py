"""django_seably.durations: one parser for every duration a command takes; bare numbers refused."""

from __future__ import annotations

import argparse
import datetime

import pytest

from django_seably.durations import SYNTAX, duration_argument, format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30s", datetime.timedelta(seconds=30)),
        ("10m", datetime.timedelta(minutes=10)),
        ("2h", datetime.timedelta(hours=2)),
        ("90d", datetime.timedelta(days=90)),
        ("0s", datetime.timedelta(0)),
        ("0d", datetime.timedelta(0)),
        ("0010m", datetime.timedelta(minutes=10)),
        ("1000000d", datetime.timedelta(days=1_000_000)),
    ],
)
def test_units(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "10",
        "90",
        "0",
        "",
        "m",
        "-1m",
        "+1m",
        "1.5h",
        "1e3s",
        "10 m",
        " 10m",
        "10m ",
        "10M",
        "2H",
        "1w",
        "3mo",
        "1y",
        "10ms",
        "1h30m",
        "١٠m",
        "ten minutes",
        "10min",
    ],
)
def test_anything_else_is_refused_naming_the_units(text):
    with pytest.raises(ValueError) as error:
        parse_duration(text)

    assert str(error.value) == f"{text!r} is not a duration: write {SYNTAX}."
    assert "s (seconds), m (minutes), h (hours) or d (days)" in str(error.value)


def test_a_duration_too_long_for_a_timedelta_is_refused():
    with pytest.raises(ValueError, match="is too long a duration"):
        parse_duration("99999999999d")


def test_the_argparse_type_stops_the_parser():
    parser = argparse.ArgumentParser(exit_on_error=False)
    parser.add_argument("--older-than", type=duration_argument)

    assert parser.parse_args(["--older-than", "90d"]).older_than == datetime.timedelta(days=90)
    with pytest.raises(argparse.ArgumentError, match="'90' is not a duration"):
        parser.parse_args(["--older-than", "90"])


@pytest.mark.parametrize(
    ("duration", "text"),
    [
        (datetime.timedelta(days=90), "90d"),
        (datetime.timedelta(hours=1), "1h"),
        (datetime.timedelta(minutes=90), "90m"),
        (datetime.timedelta(seconds=45), "45s"),
        (datetime.timedelta(0), "0s"),
        (datetime.timedelta(hours=36), "36h"),
    ],
)
def test_format_writes_what_parse_reads(duration, text):
    assert format_duration(duration) == text
    assert parse_duration(text) == duration
