"""Who may do what on the bus: one NATS user per process, with the subjects it may publish and subscribe to.

The single source of the permissions: `make dev` and the test fixtures start nats-server with the block
`authorization_block` renders (passwords generated once), and k8s/base/nats/auth.conf is the same block with each
password taken from the server's environment (`python -m common.natsauth > k8s/base/nats/auth.conf`; a test checks
the committed file). Each process connects as its own user (NATS_USER / NATS_PASSWORD, common.settings).

What a service may do, derived from the event catalogue (common.events):
- publish the subjects of the streams it produces (their owner), its own dead letters (`deadletter.<name>.>`), and
  the JetStream API calls its streams and consumers need: create, update and look up the streams it owns; look up,
  and create when still missing (never update, purge or delete), the streams it reads, so services start in any
  order; create, read and fetch from its own durable consumers, and acknowledge their messages;
- follow the revoked sessions (common.revocations: an ordered consumer on SESSIONS);
- subscribe only to its own reply inbox (`_INBOX_<name>.>`, the `inbox_prefix` it connects with), so no user can
  read another's replies.
The gateway, the internet-facing process, publishes nothing and reads only the live subjects (gateway.live): it can
neither forge an event (`payment.created`) nor touch a stream. `admin` (the operator's `python -m common.deadletters`,
the tests' stand-ins for other services) has no limits; no service holds its password.
"""

from __future__ import annotations

import json
import secrets
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from common import events
from common.events import Stream

ADMIN = "admin"
JS_API = "$JS.API"
SESSIONS = events.stream_for(events.SESSION_REVOKED)


@dataclass(frozen=True)
class BusUser:
    """A process's NATS identity: the streams it owns (produces) and reads (consumes with a durable consumer)."""

    name: str
    owns: tuple[Stream, ...] = ()
    reads: tuple[Stream, ...] = ()
    follows_revocations: bool = True  # verifies tokens itself, so keeps the revoked sessions (common.revocations)
    live: tuple[Stream, ...] = ()  # core-NATS subscriptions to these streams' subjects (the gateway's live hub)

    @property
    def ensured_streams(self) -> tuple[Stream, ...]:
        """Streams it looks up at start and creates when missing: its own, those it reads, where its dead letters go
        and the revoked sessions."""
        streams = [*self.owns, *self.reads]
        if self.reads:
            streams.append(events.DEAD_LETTERS)
        if self.follows_revocations:
            streams.append(SESSIONS)
        return tuple(dict.fromkeys(streams))

    def publish(self) -> list[str]:
        allowed = [subject for stream in self.owns for subject in stream.subjects]
        for stream in self.owns:
            allowed += [f"{JS_API}.STREAM.{call}.{stream.name}" for call in ("INFO", "CREATE", "UPDATE")]
        for stream in self.ensured_streams:
            if stream not in self.owns:
                allowed += [f"{JS_API}.STREAM.{call}.{stream.name}" for call in ("INFO", "CREATE")]
        for stream in self.reads:
            consumer = f"{stream.name}.{self.name}"
            allowed += [
                f"{JS_API}.CONSUMER.INFO.{consumer}",
                f"{JS_API}.CONSUMER.CREATE.{consumer}",
                f"{JS_API}.CONSUMER.CREATE.{consumer}.>",  # with its filter subject (nats-server >= 2.9)
                f"{JS_API}.CONSUMER.DURABLE.CREATE.{consumer}",  # older servers
                f"{JS_API}.CONSUMER.MSG.NEXT.{consumer}",
                f"$JS.ACK.{consumer}.>",  # ack, nak, in-progress, term
            ]
        if self.reads:
            allowed.append(f"deadletter.{self.name}.>")
        if self.follows_revocations:
            allowed += [
                f"{JS_API}.STREAM.NAMES",  # the stream of `session.revoked` looked up by subject
                f"{JS_API}.CONSUMER.CREATE.{SESSIONS.name}",  # an ephemeral ordered consumer
                f"$JS.FC.{SESSIONS.name}.>",  # its flow control replies
            ]
        return list(dict.fromkeys(allowed))

    def subscribe(self) -> list[str]:
        allowed = [subject for stream in self.live for subject in stream.subjects]
        if self.publish():  # anything it publishes (an event, a JetStream call) is answered on its inbox
            allowed.append(f"{inbox_prefix(self.name)}.>")
        return allowed


def inbox_prefix(user: str) -> str:
    """Where `user`'s replies arrive: an inbox of its own (nats.connect's `inbox_prefix`)."""
    return f"_INBOX_{user}"


def _stream(name: str) -> Stream:
    return next(stream for stream in (*events.STREAMS, events.DEAD_LETTERS) if stream.name == name)


TICKETS, ORDERS, PAYMENTS, EXPIRATION = (_stream(name) for name in ("TICKETS", "ORDERS", "PAYMENTS", "EXPIRATION"))

USERS: dict[str, BusUser] = {
    user.name: user
    for user in (
        BusUser("auth_svc", owns=(SESSIONS,)),
        BusUser("tickets_svc", owns=(TICKETS,), reads=(ORDERS,)),
        BusUser("orders_svc", owns=(ORDERS,), reads=(TICKETS, EXPIRATION, PAYMENTS)),
        BusUser("payments_svc", owns=(PAYMENTS,), reads=(ORDERS,)),
        BusUser("expiration_svc", owns=(EXPIRATION,), reads=(ORDERS,)),
        # The services stay the authority on tokens (they refuse revoked ones); the gateway only keys rate limits.
        BusUser("gateway", follows_revocations=False, live=(TICKETS, ORDERS)),
    )
}
NAMES = (*USERS, ADMIN)


def user(name: str) -> BusUser:
    try:
        return USERS[name]
    except KeyError:
        raise KeyError(f"{name!r} is not a NATS user of common.natsauth (known: {', '.join(NAMES)})") from None


def connect_options(process: str, user: str | None, password: str | None) -> dict[str, str]:
    """nats.connect's keyword arguments for `process`: its reply inbox (the only one its user may read) and, unless
    the address carries them, its credentials (user `process` unless told otherwise)."""
    options = {"inbox_prefix": inbox_prefix(user or process)}
    if password is not None:
        options |= {"user": user or process, "password": password}
    return options


def streams_ensured_by(name: str) -> tuple[tuple[Stream, ...], tuple[Stream, ...]]:
    """(owned, read): the streams `name` creates and updates, and those it creates only when missing. A name that is
    no service's (the operator's tools, tests acting for every service) connects as admin and owns them all."""
    if name not in USERS:
        return (*events.STREAMS, events.DEAD_LETTERS), ()
    bus_user = USERS[name]
    return bus_user.owns, tuple(s for s in bus_user.ensured_streams if s not in bus_user.owns)


def password_variable(name: str) -> str:
    """The nats-server environment variable that holds `name`'s password in k8s (e.g. NATS_PASSWORD_ORDERS_SVC)."""
    return f"NATS_PASSWORD_{name.upper()}"


def _listed(values: Iterable[str]) -> str:
    return "[\n" + "".join(f"          {json.dumps(value)}\n" for value in values) + "        ]"


def _permissions(bus_user: BusUser) -> str:
    publish = bus_user.publish()
    subscribe = bus_user.subscribe()
    pub = f"allow: {_listed(publish)}" if publish else 'deny: [">"]'
    sub = f"allow: {_listed(subscribe)}" if subscribe else 'deny: [">"]'
    publish_block = f"      publish: {{\n        {pub}\n      }}\n"
    subscribe_block = f"      subscribe: {{\n        {sub}\n      }}\n"
    return f"permissions: {{\n{publish_block}{subscribe_block}    }}"


def authorization_block(password: Callable[[str], str]) -> str:
    """nats-server's `authorization { users [...] }`; `password(name)` gives the value as the config spells it
    (a quoted literal, or `$VARIABLE` read from the server's environment)."""
    entries = [f"  {{ user: {json.dumps(ADMIN)}, password: {password(ADMIN)} }}"]
    for bus_user in USERS.values():
        entries.append(
            f"  {{\n    user: {json.dumps(bus_user.name)}, password: {password(bus_user.name)}\n"
            f"    {_permissions(bus_user)}\n  }}"
        )
    return "authorization {\n users: [\n" + "\n".join(entries) + "\n ]\n}\n"


def new_passwords() -> dict[str, str]:
    """A fresh random password for every user (a test server's, or `make dev`'s first run)."""
    return {name: secrets.token_urlsafe(24) for name in NAMES}


def literal_passwords(passwords: Mapping[str, str]) -> Callable[[str], str]:
    return lambda name: json.dumps(passwords[name])


def k8s_auth_conf() -> str:
    """k8s/base/nats/auth.conf: every password from the nats-server environment (one Secret per user)."""
    header = (
        "# Generated by `python -m common.natsauth > k8s/base/nats/auth.conf` from common/natsauth.py (the one\n"
        "# source of the permissions; tests/k8s checks this file). Passwords come from the server's environment.\n"
    )
    return header + authorization_block(lambda name: f"${password_variable(name)}")


if __name__ == "__main__":
    sys.stdout.write(k8s_auth_conf())
