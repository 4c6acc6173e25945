"""The event bus's retry policy for services started by tests (every suite uses this one)."""

from __future__ import annotations

from common.bus import RetryPolicy

# EARLY events and handlers that fail while a server is down come back within a fraction of a second, and never
# end up in dead letters while a test waits for them (200 attempts, about a minute); a message is redelivered to
# another consumer only after 30 s, longer than any handler takes in a test (even on a loaded machine).
FAST_RETRY = RetryPolicy(max_attempts=200, first_delay=0.05, max_delay=0.3, ack_wait=30.0)
