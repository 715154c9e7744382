"""Parlour: a self-hosted comment section for writers and their readers."""

__version__ = "0.1.0.dev0"
