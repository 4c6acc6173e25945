"""Text a user typed that other people will see (emails, titles): free of control characters and of the
bidirectional controls that make text display differently from what it is (Trojan Source, CVE-2021-42574).
Pure: domain modules use it."""

from __future__ import annotations

import unicodedata

# The explicit embeddings, overrides and isolates, and the implicit marks.
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")


def is_display_safe(value: str) -> bool:
    """No control character (C0, DEL, C1: category Cc), no surrogate, no bidirectional control."""
    return not any(c in BIDI_CONTROLS or unicodedata.category(c) in ("Cc", "Cs") for c in value)
