"""Sending one command of a process manager's outbox, and telling what its answer means."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Any

import trio
from typing_extensions import final

from .._core.api import execute_with_response
from .._core.errors import EventStoreError, OutcomeUnknown
from .._runtime.process import SubjectClosed, SubjectFull, receive_forever
from .._runtime.result import Error, Ok
from .decisions import Send

logger = logging.getLogger("trio_eventsourcing.process_managers")

_MAX_KEY = 200
"""The longest idempotency key the systems take: longer ones are hashed."""


def derived_key(*parts: object) -> str:
    """An idempotency key made of ``parts``, hashed if it would be too long.

    Example::

        assert derived_key("pm", "transfers", 42, 0) == "pm/transfers/42/0"
    """
    key = "/".join(str(part) for part in parts)
    if len(key) <= _MAX_KEY:
        return key
    return "pm-" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


@final
@dataclass(slots=True)
class Outgoing:
    """A command of the outbox: what to send, under which key, and for which instance."""

    sequence: int
    instance: str
    send: Send[Any]
    key: str
    correlation_id: str
    causation_id: str


@final
@dataclass(frozen=True, slots=True)
class Retry:
    """Send the command again later: ``reason`` is why it got no final answer."""

    reason: str


async def send_once(
    manager: str, item: Outgoing, command_timeout: float
) -> Ok[None] | Error[Any] | Retry:
    """Send ``item`` and wait for its answer.

    ``Ok``: stored (or stored already); ``Error``: refused for good (a domain error, or
    an error sending again cannot fix); ``Retry``: no final answer (the target stopped,
    its mailbox was full, the store failed, or no answer in ``command_timeout``).
    """
    send = item.send
    try:
        reply = execute_with_response(
            send.target.actor,
            send.aggregate_id,
            send.command,
            [],
            idempotency_key=item.key,
            correlation_id=item.correlation_id,
            causation_id=item.causation_id,
        )
    except (SubjectClosed, SubjectFull) as exc:
        # The target's actor has stopped, or its mailbox is full: try again later (a
        # Subject of a Name reaches the actor that serves the Name then).
        await trio.lowlevel.checkpoint()
        return _retry(manager, f"{type(exc).__name__}: sending {item.key!r} to {send.target!r}")
    except (TypeError, ValueError) as exc:
        # Refused as sent (an id or key the systems cannot store): sending it again
        # cannot help.
        await trio.lowlevel.checkpoint()
        return Error(exc)
    with trio.move_on_after(command_timeout):
        outcome = await receive_forever(reply)
        if isinstance(outcome, Ok):
            return Ok(None)
        if isinstance(outcome.error, (OutcomeUnknown, EventStoreError)):
            error = outcome.error
            return _retry(manager, f"sending {item.key!r}: {type(error).__name__}: {error}")
        return outcome
    return _retry(manager, f"no answer to {item.key!r} within {command_timeout} s")


def _retry(manager: str, reason: str) -> Retry:
    logger.warning("process manager %r: %s; sending it again", manager, reason)
    return Retry(reason)
