"""Benchmarks of django_seably's webhook receiver against a minimal reference receiver (see README.md)."""

from __future__ import annotations
