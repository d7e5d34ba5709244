"""What a process remembers of its recent deliveries, to skip work: hints, never trusted for correctness.

Each is a bounded set of strings, emptied when full (cheaper than keeping an
order, and a hint that is missing only costs the work it would have saved).
Each process has its own; a wrong or missing hint changes how fast a delivery
is handled, never what is stored.
"""

from __future__ import annotations


class Hint:
    """A bounded set of strings: ``remember``, ``forget``, ``in``."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: set[str] = set()

    def __contains__(self, item: str) -> bool:
        return item in self._items

    def __len__(self) -> int:
        return len(self._items)

    def remember(self, item: str) -> None:
        if item not in self._items:
            if len(self._items) >= self.size:
                self._items.clear()
            self._items.add(item)

    def forget(self, item: str) -> None:
        self._items.discard(item)

    def clear(self) -> None:
        self._items.clear()


#: Tokens that stored an event here: their next deliveries skip the token lookup,
#: since the event's INSERT checks the token itself (views.WebhookView._get_endpoint).
known_tokens = Hint(100)

#: Fingerprints of the deliveries stored here last: a resend is counted with one
#: UPDATE first (processing.store_delivery), and SQLite skips preparing its work.
recent_fingerprints = Hint(1000)
