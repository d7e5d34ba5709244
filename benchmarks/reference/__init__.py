"""The reference receiver: the least any persisting Django webhook receiver must do."""

from __future__ import annotations
