"""Cursor pagination by descending id: fast and stable on tables of millions of rows.

A page is one indexed range scan (``WHERE id < cursor ORDER BY id DESC LIMIT n``)
however deep it is, with no ``COUNT(*)`` and no ``OFFSET``; rows arriving while a
client pages never shift or repeat the ones it has seen.
"""

from __future__ import annotations

import re
from typing import Any

from rest_framework.exceptions import ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request

_DIGITS = re.compile(r"[0-9]+", re.ASCII)


class IdCursorPagination(CursorPagination):
    """Newest first, ``page_size`` 1 to ``max_page_size``; a malformed ``page_size`` is a 400, not ignored."""

    ordering = "-id"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200

    def get_page_size(self, request: Request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        # The length first: int() refuses (ValueError) strings of thousands of digits.
        if not (len(raw) <= 9 and _DIGITS.fullmatch(raw) and 1 <= int(raw) <= self.max_page_size):
            raise ValidationError(
                {self.page_size_query_param: [f"Enter a whole number from 1 to {self.max_page_size}."]}
            )
        return int(raw)

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"] = {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": self.max_page_size,
                    "default": self.page_size,
                }
        return parameters
