"""Database expressions that migrations reference: this module must stay importable, under this name.

Migration 0001 builds the certificate's email index with ``AsciiLower``, and a
project's own migrations do the same for its user table (docs/security.md,
"Linking users"). A migration names the class by its dotted path forever, so
the class lives here, in a module that does nothing else, and never moves.
"""

from __future__ import annotations

import string
from typing import Any

from django.db import models


class AsciiLower(models.Func):
    """An email with its ASCII letters lower-cased and nothing else changed, computed by the database.

    The database's own LOWER follows its collation (ICU or libc locales fold
    ``ı`` to ``I``), so linking narrows with this and confirms in Python
    (``linking.email_key``). PostgreSQL's ``translate`` maps characters one by
    one, whatever the collation; SQLite's built-in ``lower`` folds ASCII only.
    Elsewhere ``LOWER`` may fold more (so a query returns more rows, which
    ``email_key`` then discards). Usable in an index:
    ``models.Index(AsciiLower("email"), name=...)`` serves linking's lookups.
    """

    function = "LOWER"
    arity = 1
    output_field = models.CharField()

    def as_postgresql(self, compiler: Any, connection: Any, **extra_context: Any) -> Any:
        # Literals, not parameters, so that an index on the same expression matches.
        template = f"translate(%(expressions)s, '{string.ascii_uppercase}', '{string.ascii_lowercase}')"
        return self.as_sql(compiler, connection, template=template, **extra_context)
