"""Notes and photos on work orders.

Photos are files under `MEDIA_DIR/{tenant id}/work-orders/{work order id}/{photo id}.{ext}`:
the path is built from ids only, never from a filename a client sent. The type is decided by
the file's first bytes (JPEG, PNG or WebP), not by its name or its declared content type.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from pathlib import Path
from typing import Any

import msgspec

from app.core import audit
from app.core.audit import Actor
from app.core.config import get_settings
from app.core.i18n import _
from app.core.idempotency import IdempotencyKey
from app.core.problems import Invalid, NotFound
from app.core.timeutil import iso, now
from app.plans.access import parse_id
from app.subscribers.timing import parse_occurred_at
from app.workorders.access import access_work_order
from app.workorders.schemas import NoteIn, NoteOut, PhotoOut
from app.workorders.tables import WorkOrderNote, WorkOrderPhoto
from tenants.registry import TenantRef
from tenants.scope import tenant_scope

MAX_PHOTO_BYTES = 10 * 1024 * 1024
EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}


def sniff_image(data: bytes) -> str | None:
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def note_out(row: dict[str, Any]) -> NoteOut:
    return NoteOut(
        id=str(row["id"]),
        work_order_id=str(row["work_order"]),
        body=row["body"],
        author_id=str(row["author_id"]) if row["author_id"] else None,
        author_label=row["author_label"],
        occurred_at=iso(row["occurred_at"]),
        created_at=iso(row["created_at"]),
    )


def photo_out(row: dict[str, Any]) -> PhotoOut:
    return PhotoOut(
        id=str(row["id"]),
        work_order_id=str(row["work_order"]),
        content_type=row["content_type"],
        size_bytes=row["size_bytes"],
        sha256=row["sha256"],
        caption=row["caption"],
        uploaded_by=str(row["uploaded_by"]) if row["uploaded_by"] else None,
        created_at=iso(row["created_at"]),
        url=f"/api/v1/work-orders/{row['work_order']}/photos/{row['id']}",
    )


async def add_note(
    tenant: TenantRef,
    work_order_id: str,
    data: NoteIn,
    actor: Actor,
    idempotency: IdempotencyKey | None = None,
) -> NoteOut:
    body = data.body.strip()
    if not 1 <= len(body) <= 10_000:
        raise Invalid({"body": _("Write 1 to 10000 characters.")})
    async with tenant_scope(tenant, idempotency=idempotency) as scope:
        if scope.replayed:
            return msgspec.convert(scope.replay, NoteOut)
        work_order = await access_work_order(work_order_id)
        occurred_at = parse_occurred_at(data.occurred_at, not_before=work_order["created_at"])
        note_id = uuid.uuid4()
        await WorkOrderNote.insert(
            WorkOrderNote(
                id=note_id,
                work_order=work_order["id"],
                body=body,
                author_id=actor.id,
                author_label=actor.label,
                occurred_at=occurred_at,
                created_at=now(),
            )
        )
        await audit.record(
            actor, "work_order.note", "work_order", work_order["id"], note=str(note_id)
        )
        row = await WorkOrderNote.select().where(WorkOrderNote.id == note_id).first()
        assert row is not None
        out = note_out(row)
        await scope.remember(msgspec.to_builtins(out))
    return out


async def list_notes(tenant: TenantRef, work_order_id: str) -> list[NoteOut]:
    async with tenant_scope(tenant):
        work_order = await access_work_order(work_order_id)
        rows = (
            await WorkOrderNote.select()
            .where(WorkOrderNote.work_order == work_order["id"])
            .order_by(WorkOrderNote.occurred_at)
            .order_by(WorkOrderNote.id)
        )
        return [note_out(r) for r in rows]


def photo_path(tenant: TenantRef, work_order_id: uuid.UUID, photo_id: uuid.UUID, kind: str) -> Path:
    root = Path(get_settings().media_dir)
    return (
        root
        / str(tenant.id)
        / "work-orders"
        / str(work_order_id)
        / f"{photo_id}.{EXTENSIONS[kind]}"
    )


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(path.suffix + ".part")
    partial.write_bytes(data)
    partial.replace(path)


async def add_photo(
    tenant: TenantRef,
    work_order_id: str,
    data: bytes,
    caption: str,
    actor: Actor,
    idempotency: IdempotencyKey | None = None,
) -> PhotoOut:
    errors: dict[str, str] = {}
    kind = sniff_image(data)
    if not data:
        errors["file"] = _("Send a photo.")
    elif len(data) > MAX_PHOTO_BYTES:
        errors["file"] = _("A photo may be at most 10 MB.")
    elif kind is None:
        errors["file"] = _("Send a JPEG, PNG or WebP image.")
    if len(caption) > 300:
        errors["caption"] = _("Use at most 300 characters.")
    if errors:
        raise Invalid(errors)
    assert kind is not None
    written: Path | None = None
    try:
        async with tenant_scope(tenant, idempotency=idempotency) as scope:
            if scope.replayed:
                return msgspec.convert(scope.replay, PhotoOut)
            work_order = await access_work_order(work_order_id)
            photo_id = uuid.uuid4()
            written = photo_path(tenant, work_order["id"], photo_id, kind)
            await asyncio.to_thread(_write, written, data)
            await WorkOrderPhoto.insert(
                WorkOrderPhoto(
                    id=photo_id,
                    work_order=work_order["id"],
                    content_type=kind,
                    size_bytes=len(data),
                    sha256=hashlib.sha256(data).hexdigest(),
                    caption=caption.strip(),
                    uploaded_by=actor.id,
                    uploaded_by_label=actor.label,
                    created_at=now(),
                )
            )
            await audit.record(
                actor, "work_order.photo", "work_order", work_order["id"], photo=str(photo_id)
            )
            row = await WorkOrderPhoto.select().where(WorkOrderPhoto.id == photo_id).first()
            assert row is not None
            out = photo_out(row)
            await scope.remember(msgspec.to_builtins(out))
    except BaseException:
        if written is not None:
            written.unlink(missing_ok=True)
        raise
    return out


async def list_photos(tenant: TenantRef, work_order_id: str) -> list[PhotoOut]:
    async with tenant_scope(tenant):
        work_order = await access_work_order(work_order_id)
        rows = (
            await WorkOrderPhoto.select()
            .where(WorkOrderPhoto.work_order == work_order["id"])
            .order_by(WorkOrderPhoto.created_at)
            .order_by(WorkOrderPhoto.id)
        )
        return [photo_out(r) for r in rows]


async def read_photo(tenant: TenantRef, work_order_id: str, photo_id: str) -> tuple[bytes, str]:
    async with tenant_scope(tenant):
        work_order = await access_work_order(work_order_id)
        pid = parse_id(photo_id)
        row = None
        if pid is not None:
            row = (
                await WorkOrderPhoto.select()
                .where(WorkOrderPhoto.id == pid, WorkOrderPhoto.work_order == work_order["id"])
                .first()
            )
        if row is None:
            raise NotFound(_("No such photo."))
    path = photo_path(tenant, work_order["id"], row["id"], row["content_type"])
    try:
        content = await asyncio.to_thread(path.read_bytes)
    except FileNotFoundError:
        raise NotFound(_("No such photo.")) from None
    return content, str(row["content_type"])
