"""CSV export of certificates, streamed, with cells a spreadsheet would run as formulas neutralised."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import Any

from django.db.models import QuerySet
from django.http import StreamingHttpResponse

from django_seably.models import Certificate

#: Columns of the CSV export, in order.
CSV_COLUMNS = [
    "seably_id",
    "learner_name",
    "learner_email",
    "course_name",
    "issued_at",
    "expires_on",
    "url",
    "created_at",
]

#: Certificates read per query while streaming.
CSV_CHUNK_SIZE = 2000


def csv_safe(value: Any) -> str:
    """Return ``value`` as CSV text that a spreadsheet will not run as a formula."""
    text = "" if value is None else value.isoformat() if hasattr(value, "isoformat") else str(value)
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text
    return text


class _Echo:
    """A file that hands back what is written: csv.writer then returns each line."""

    def write(self, value: str) -> str:
        return value


def certificates_csv(queryset: QuerySet[Certificate], filename: str = "certificates.csv") -> StreamingHttpResponse:
    """Stream ``queryset`` as a CSV download: 100,000 rows never sit in memory."""
    writer = csv.writer(_Echo())

    def rows() -> Iterator[str]:
        yield writer.writerow(CSV_COLUMNS)
        for certificate in queryset.order_by("pk").only(*CSV_COLUMNS).iterator(chunk_size=CSV_CHUNK_SIZE):
            yield writer.writerow([csv_safe(getattr(certificate, column)) for column in CSV_COLUMNS])

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
