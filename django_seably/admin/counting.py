"""Counting big results without reading every row: PostgreSQL's planner estimate."""

from __future__ import annotations

import json
from typing import Any

from django.core.paginator import Paginator
from django.db import connections
from django.db.models import QuerySet
from django.utils.functional import cached_property

#: Results the planner expects to be smaller are counted exactly; above, its estimate is shown.
EXACT_COUNT_BELOW = 50_000

#: The overview's variant of ``EXACT_COUNT_BELOW``: it counts every status on each view
#: (several counts, not one), and a backlog only needs to be exact while it is small
#: enough to act on one by one; past that, "about" is as useful and costs no scan.
OVERVIEW_EXACT_COUNT_BELOW = 1_000


def estimated_count(queryset: QuerySet[Any]) -> int:
    """Return the planner's estimate of the rows ``queryset`` matches, or -1 where there is none."""
    connection = connections[queryset.db]
    if connection.vendor != "postgresql":
        return -1
    sql, params = queryset.order_by().values("pk").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])


def counted(queryset: QuerySet[Any], *, exact_below: int = EXACT_COUNT_BELOW) -> tuple[int, bool]:
    """Return ``queryset``'s row count and whether it is the planner's estimate.

    Counted exactly (``COUNT(*)``) unless the planner expects ``exact_below`` rows or more.
    """
    estimate = estimated_count(queryset)
    if estimate >= exact_below:
        return estimate, True
    return queryset.count(), False


class EstimatedCountPaginator(Paginator):  # type: ignore[type-arg]
    """Count small results exactly; take PostgreSQL's planner estimate for big ones.

    ``COUNT(*)`` reads every matching row: a second or more at a million rows,
    on every page view of an unfiltered list or of a filter that matches most
    rows (``status=processed``). ``is_estimate`` tells the change list
    (``admin/django_seably/change_list.html``) to say so.
    """

    is_estimate = False

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        if not isinstance(queryset, QuerySet):
            return super().count
        total, self.is_estimate = counted(queryset)
        return total
