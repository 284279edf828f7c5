"""A request whose client goes away stops its work: its handler sets the request's cancel event, which its
jobs read as `Job.cancelled` (tts/batcher.py drops them before their batch, between their batches and
between the pieces of a stream; a batch whose jobs are all cancelled stops at its next ODE step), so the
requests behind it are served at their normal speed.

How a client's departure is seen: the OpenAI API polls Starlette's `request.is_disconnected()` (and a
streamed response is cancelled by Starlette itself); a Gradio handler is cancelled by Gradio when its
client cancels (`gradio_client`'s `job.cancel()`), and sees a dropped connection (a closed tab) as
its queue event no longer alive (`gradio_gone`).
"""
from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio

from tts.synthesizer import Cancelled

T = TypeVar("T")
POLL_SECONDS = 0.05  # how soon a departure is noticed (a poll costs microseconds)


async def run_cancellable(work: Callable[[], T], cancel: threading.Event,
                          gone: Callable[[], Awaitable[bool]] | None = None) -> T:
    """`work()` in a worker thread → its result. When the awaiting task is cancelled, or `gone()` says the
    client left, `cancel` is set and the task stops waiting at once (the thread ends when its job notices,
    within an ODE step); a departure raises `Cancelled`."""

    async def watch() -> None:
        assert gone is not None
        while not cancel.is_set():
            await anyio.sleep(POLL_SECONDS)
            if await gone():
                cancel.set()
                scope.cancel()

    with anyio.CancelScope() as scope:
        try:
            async with anyio.create_task_group() as tasks:
                if gone is not None:
                    tasks.start_soon(watch)
                try:
                    result = await anyio.to_thread.run_sync(work, abandon_on_cancel=True)
                except BaseException:
                    cancel.set()
                    raise
                tasks.cancel_scope.cancel()
                return result
        except BaseExceptionGroup as group:  # the task group wraps the work's own error: raise it as it is
            if len(group.exceptions) == 1:
                raise group.exceptions[0] from None
            raise
    raise Cancelled()  # the scope was cancelled by `watch`: the client left


async def run_until_disconnected(request, cancel: threading.Event, work: Callable[[], T]) -> T:
    """`run_cancellable` for a Starlette request: the client's disconnection cancels."""
    return await run_cancellable(work, cancel, request.is_disconnected)


def gradio_gone() -> Callable[[], Awaitable[bool]]:
    """For a Gradio handler (call it in the handler): whether its client has gone. Gradio marks the queue event
    of a client whose connection dropped as no longer alive, without cancelling a running handler; this reads
    that mark (Gradio's internals: where they change, it answers False and only explicit cancels stop work)."""
    from gradio.context import LocalContext

    blocks, event_id = LocalContext.blocks.get(None), LocalContext.event_id.get(None)
    queue = getattr(blocks, "_queue", None)

    async def gone() -> bool:
        event = getattr(queue, "event_ids_to_events", {}).get(event_id)
        return event is not None and getattr(event, "alive", True) is False

    return gone
