"""The event bus's retry policy for services started by tests (every suite uses this one)."""

from __future__ import annotations

from common.bus import RetryPolicy

# EARLY events and handlers that fail while a server is down come back within a fraction of a second (never given
# up, as in production); a message handed to a consumer that died goes to another after 5 s (a slow handler is
# kept in progress, so it is never redelivered meanwhile).
FAST_RETRY = RetryPolicy(first_delay=0.05, max_delay=0.3, ack_wait=5.0)
