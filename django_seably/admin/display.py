"""How values look on the app's admin pages: status badges, JSON, long values in narrow columns."""

from __future__ import annotations

import json
import re
from typing import Any

from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

#: Longer values are cut in lists, the whole value shown on hover (``title``).
LIST_VALUE_MAX_CHARACTERS = 60

# Where a long value may wrap: after a dot, slash or underscore, before an at sign
# ("certificate.|created", "ingrid.|solberg|@example.|com"); nowhere else, not even at a
# hyphen ("SB-00000042" stays whole).
_BREAK_POINTS = re.compile(r"(?<=[./_])(?=.)|(?<=.)(?=@)")


def pretty_json(value: Any) -> str:
    """Return ``value`` as indented JSON in a ``<pre>``, escaped."""
    return format_html('<pre class="seably-json">{}</pre>', json.dumps(value, indent=2, ensure_ascii=False))


def badge(status: str, label: str) -> str:
    """Return a status badge; its CSS keeps it on one line whatever the column's width."""
    return format_html('<span class="seably-badge seably-{}">{}</span>', status, label)


def list_value(value: Any) -> str | None:
    """Return a value for a list column: wrapping only at its natural break points, cut when very long.

    A cut value keeps the whole of it in ``title``, shown on hover. None for an
    empty value: the admin shows its ``empty_value_display``.
    """
    text = "" if value is None else str(value)
    if not text:
        return None
    if len(text) > LIST_VALUE_MAX_CHARACTERS:
        shown = text[: LIST_VALUE_MAX_CHARACTERS - 1] + "…"
        return format_html('<span class="seably-cut" title="{}">{}</span>', text, _breakable(shown))
    return _breakable(text)


def _breakable(text: str) -> str:
    pieces = _BREAK_POINTS.split(text)
    return format_html_join(
        mark_safe("<wbr>"), '<span class="seably-nobreak">{}</span>', ((piece,) for piece in pieces)
    )
