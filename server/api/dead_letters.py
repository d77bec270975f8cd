"""Dead letters: list the work a queue gave up on, put an entry back on its queue, or drop it.

See `server.pipeline.dead_letters` for what a dead letter is. Replaying and dropping are decisions
about data, so each leaves an audit row.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from server.api.audit import record
from server.api.errors import ApiError, not_found
from server.api.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page, page_of
from server.api.registry import Call, Routes
from server.models import AuditAction
from server.pipeline import dead_letters
from server.pipeline.dead_letters import DeadLetter
from server.pipeline.streams import QueueFull

routes = Routes("system")

Queue = Literal["detect", "analyze", "refine", "clips", "alerts"]
#: A Redis stream entry id (`<ms>-<seq>`, each below 2**64: nineteen digits at most).
EntryId = Annotated[str, StringConstraints(pattern=r"^[0-9]{1,19}-[0-9]{1,19}$")]
#: `<queue>/<entry id>`, as `next_cursor` gives it: one naming no queue cannot come from a page.
Cursor = Annotated[
    str, StringConstraints(pattern=rf"^({'|'.join(get_args(Queue))})/[0-9]{{1,19}}-[0-9]{{1,19}}$")
]


class DeadLetterOut(BaseModel):
    queue: Queue = Field(description="The work queue the entry came from.")
    id: str = Field(description="The dead letter's id (within its queue's dead letters).")
    dead_at: datetime = Field(description="When the entry was given up on.")
    error: str = Field(description="The last failure (`Type: message`).")
    attempts: int
    original_id: str | None = Field(description="The entry's id in its work queue.")
    fields: dict[str, str] = Field(description="The entry as it was queued (a detect job: camera, file...).")


class DeadLetterQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    queue: Queue | None = Field(None, description="Only this queue's dead letters.")
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="Items per page.")
    cursor: Cursor | None = Field(
        None, description="`next_cursor` of the previous page; omit for the first page."
    )


class DeadLetterPath(BaseModel):
    model_config = ConfigDict(extra="forbid")

    queue: Queue
    letter_id: EntryId


class Replayed(BaseModel):
    queue: Queue
    entry_id: str = Field(description="The new entry's id in the work queue.")


def _out(letter: DeadLetter) -> dict[str, Any]:
    return asdict(letter)


@routes.get(
    "/api/system/dead-letters",
    summary="List dead letters",
    query=DeadLetterQuery,
    response=Page[DeadLetterOut],
)
async def list_dead_letters(call: Call) -> dict[str, Any]:
    """Oldest first, queue by queue (detect, analyze, refine, clips, alerts). Transient failures (a store
    or the disk away) never end here: only entries that failed for a reason of their own."""
    q: DeadLetterQuery = call.query
    queues = [q.queue] if q.queue is not None else list(dead_letters.QUEUES)
    letters, cursor = await dead_letters.listed(call.runtime.redis, queues, after=q.cursor, limit=q.limit)
    return page_of([_out(letter) for letter in letters], cursor)


@asynccontextmanager
async def _deciding(call: Call) -> AsyncIterator[DeadLetter]:
    """The path's letter, held for this request's decision (`dead_letters.deciding`); 404 when there is
    none, or another request is deciding on it (then it is gone, or stays, by that one's decision)."""
    path: DeadLetterPath = call.path
    async with dead_letters.deciding(call.runtime.redis, path.queue, path.letter_id) as letter:
        if letter is None:
            raise not_found("dead letter", f"{path.queue}/{path.letter_id}")
        yield letter


async def _audit(call: Call, action: AuditAction, letter: DeadLetter, details: dict[str, Any]) -> None:
    async with call.runtime.database.sessions() as session:
        record(session, call.request, action, "dead_letter", f"{letter.queue}/{letter.id}", details=details)
        await session.commit()


@routes.post(
    "/api/system/dead-letters/{queue}/{letter_id}/replay",
    summary="Put a dead letter back on its queue",
    path_params=DeadLetterPath,
    response=Replayed,
    status=202,
    errors=(409, 503),
)
async def replay_dead_letter(call: Call) -> dict[str, Any]:
    """The entry is queued again as new (its failures forgotten) and the dead letter removed; 503
    `queue_full` (the letter stays) while the queue is at its cap. An upload whose file is gone (deleted,
    moved) is 409 `file_gone`, the letter kept: queued, it would only be rejected, and the letter lost."""
    async with _deciding(call) as letter:
        upload = letter.fields.get("file_path") if letter.queue == "detect" else None
        if upload and not await asyncio.to_thread(Path(upload).is_file):
            raise ApiError(409, "file_gone", f"{upload} is no longer there: nothing to detect in (drop the letter)")
        try:
            entry_id = await dead_letters.replay(
                call.runtime.redis, letter, max_len=call.runtime.settings.queue_max_len
            )
        except QueueFull as err:
            raise ApiError(503, "queue_full", str(err)) from None
    await _audit(call, AuditAction.DEAD_LETTER_REPLAYED, letter, {"entry_id": entry_id, "error": letter.error})
    return {"queue": letter.queue, "entry_id": entry_id}


@routes.delete(
    "/api/system/dead-letters/{queue}/{letter_id}",
    summary="Drop a dead letter",
    path_params=DeadLetterPath,
)
async def drop_dead_letter(call: Call) -> None:
    """Removed for good (the log row written when it was dead-lettered stays)."""
    async with _deciding(call) as letter:
        await dead_letters.drop(call.runtime.redis, letter)
    await _audit(call, AuditAction.DEAD_LETTER_DROPPED, letter, {"error": letter.error, "fields": letter.fields})
