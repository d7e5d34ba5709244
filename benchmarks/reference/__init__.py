"""The reference receiver: the least a receiver of django-seably's contract must do, in plain SQL."""
