"""Attachments by upload: a presigned S3 POST per file, referenced by id in a send.

API Gateway hands Lambda at most 6 MB, so a JSON send carries at most a few MB of base64 attachment. Larger
files go straight to S3: `POST /v1/uploads` answers a presigned POST whose policy binds the exact key,
content type, filename and size (`content-length-range` size..size: S3 itself refuses any other length)
and expires after UPLOAD_URL_SECONDS. A send names uploads by id; before the decision each is checked
with HeadObject (it exists under the caller's account prefix, its actual size and content type are what
was declared and allowed, and the message stays within the provider's size limit); its bytes are read and
sniffed only when the message is composed, after the decision allows it.
"""

from __future__ import annotations

import re
import secrets
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Protocol

from litemx.mail.compose import Attachment, ComposeError, Draft

UPLOAD_PREFIX = "uploads/"
UPLOAD_ID = re.compile(r"^upl-[0-9a-f]{32}$")
UPLOAD_URL_SECONDS = 15 * 60
# SES v2 SendEmail takes at most 40 MB per message after encoding (PROVIDER_MAX_MESSAGE_BYTES); base64
# makes 4 bytes of 3 and its line breaks add 2 per 76, so about 29 MB of files fit beside headers and text.
MAX_UPLOAD_BYTES = 29 * 1000 * 1000
MAX_UPLOADS_PER_MESSAGE = 10
# Room for the headers, the text and html parts and the MIME boundaries of a message with attachments.
MESSAGE_OVERHEAD_BYTES = 64 * 1024
_MIME_TYPE = re.compile(r"^[A-Za-z0-9!#$&^_.+-]{1,64}/[A-Za-z0-9!#$&^_.+-]{1,64}$")
# Types a mail client would run rather than show; SES refuses their usual extensions too.
BLOCKED_TYPES = frozenset(
    {
        "application/x-msdownload",
        "application/x-msdos-program",
        "application/x-executable",
        "application/x-sharedlib",
        "application/x-mach-binary",
        "application/x-sh",
        "application/x-bat",
        "application/vnd.microsoft.portable-executable",
        "application/x-ms-installer",
        "application/hta",
        "application/javascript",
        "text/javascript",
    }
)
# SES's "unsupported attachment types" (SES developer guide): it rejects messages that carry them.
_SES_UNSUPPORTED = (
    "ade adp app asp bas bat cer chm cmd com cpl crt csh der exe fxp gadget hlp hta inf ins isp its js jse "
    "ksh lib lnk mad maf mag mam maq mar mas mat mau mav maw mda mdb mde mdt mdw mdz msc msh msh1 msh2 "
    "mshxml msh1xml msh2xml msi msp mst ops pcd pif plg prf prg reg scf scr sct shb shs sys ps1 ps1xml ps2 "
    "ps2xml psc1 psc2 tmp url vb vbe vbs vps vsmacros vss vst vsw vxd ws wsc wsf wsh xnk"
)
BLOCKED_EXTENSIONS = frozenset(_SES_UNSUPPORTED.split())
# Executable file signatures (PE, ELF, Mach-O, fat binaries): refused whatever the declared type.
_EXECUTABLE_MAGIC = (b"MZ", b"\x7fELF", b"\xcf\xfa\xed\xfe", b"\xce\xfa\xed\xfe", b"\xca\xfe\xba\xbe")


class UploadError(ComposeError):
    """An upload or a reference to one is refused; `code` is the stable reason (docs/policy.md)."""


@dataclass(frozen=True)
class PresignedPost:
    url: str
    fields: dict[str, str]


@dataclass(frozen=True)
class StoredObject:
    size: int
    content_type: str
    metadata: Mapping[str, str]


class UploadStore(Protocol):
    def presign_post(
        self, key: str, *, content_type: str, size: int, metadata: Mapping[str, str], expires_in: int
    ) -> PresignedPost: ...
    def head(self, key: str) -> StoredObject | None: ...
    def read(self, key: str) -> bytes: ...


@dataclass(frozen=True)
class UploadTicket:
    upload_id: str
    url: str
    fields: dict[str, str]
    expires_at: datetime
    max_bytes: int


@dataclass(frozen=True)
class VerifiedUpload:
    upload_id: str
    key: str
    filename: str
    content_type: str
    size: int


def upload_key(account_id: str, upload_id: str) -> str:
    """Every upload lives under its account's prefix: another account's id simply is not found there."""
    return f"{UPLOAD_PREFIX}{account_id}/{upload_id}"


def encoded_size(size: int) -> int:
    """The bytes a file of `size` takes in the MIME message: base64 with a CRLF after every 76 characters."""
    chars = 4 * ((size + 2) // 3)
    return chars + 2 * ((chars + 75) // 76)


def _refuse_file(filename: str, content_type: str) -> None:
    if not filename or len(filename) > 255 or any(ord(c) < 32 or ord(c) == 127 for c in filename):
        raise UploadError(
            "upload_invalid", "The filename must be 1 to 255 characters without control characters."
        )
    extension = filename.rpartition(".")[2].lower() if "." in filename else ""
    if extension in BLOCKED_EXTENSIONS:
        raise UploadError(
            "upload_invalid", f"Files ending in .{extension} cannot be sent (SES refuses executable types)."
        )
    if not _MIME_TYPE.match(content_type) or content_type.lower() in BLOCKED_TYPES:
        raise UploadError("upload_invalid", f"{content_type[:130]!r} is not an allowed content type.")


def new_upload(
    account_id: str,
    token_id: str,
    *,
    filename: str,
    content_type: str,
    size: int,
    store: UploadStore,
    now: datetime,
) -> UploadTicket:
    """A presigned POST for one file of exactly `size` bytes, or UploadError (`upload_invalid`)."""
    _refuse_file(filename, content_type)
    if not 1 <= size <= MAX_UPLOAD_BYTES:
        raise UploadError(
            "upload_invalid", f"An upload is 1 to {MAX_UPLOAD_BYTES} bytes; {size} bytes were declared."
        )
    upload_id = f"upl-{secrets.token_hex(16)}"
    post = store.presign_post(
        upload_key(account_id, upload_id),
        content_type=content_type,
        size=size,
        metadata={"filename": urllib.parse.quote(filename, safe=""), "token": token_id, "size": str(size)},
        expires_in=UPLOAD_URL_SECONDS,
    )
    return UploadTicket(
        upload_id=upload_id,
        url=post.url,
        fields=post.fields,
        expires_at=now + timedelta(seconds=UPLOAD_URL_SECONDS),
        max_bytes=size,
    )


def verify_uploads(
    account_id: str,
    upload_ids: Sequence[str],
    store: UploadStore,
    *,
    inline_bytes: int,
    max_message_bytes: int,
) -> tuple[VerifiedUpload, ...]:
    """HeadObject for each referenced upload under the caller's account: UploadError when one is missing
    (`upload_not_found`), is not what was declared or allowed (`upload_rejected`), or when the message
    would exceed `max_message_bytes` (`message_too_large`). Reads no file content."""
    if len(upload_ids) > MAX_UPLOADS_PER_MESSAGE:
        raise UploadError(
            "upload_invalid", f"A message references at most {MAX_UPLOADS_PER_MESSAGE} uploads."
        )
    if len(set(upload_ids)) != len(upload_ids):
        raise UploadError("upload_invalid", "The same upload is referenced twice.")
    verified = tuple(_verified(account_id, upload_id, store) for upload_id in upload_ids)
    estimate = inline_bytes + MESSAGE_OVERHEAD_BYTES + sum(encoded_size(u.size) for u in verified)
    if estimate > max_message_bytes:
        raise UploadError(
            "message_too_large",
            f"With its uploads the message would be about {estimate} bytes; the limit is "
            f"{max_message_bytes} bytes.",
        )
    return verified


def _verified(account_id: str, upload_id: str, store: UploadStore) -> VerifiedUpload:
    missing = UploadError(
        "upload_not_found", f"There is no upload {upload_id[:80]!r} of this account (or it has expired)."
    )
    if not UPLOAD_ID.match(upload_id):
        raise missing
    key = upload_key(account_id, upload_id)
    found = store.head(key)
    if found is None:
        raise missing
    filename = urllib.parse.unquote(found.metadata.get("filename", ""))
    declared = found.metadata.get("size", "")
    if found.size > MAX_UPLOAD_BYTES or (declared and declared != str(found.size)):
        raise UploadError(
            "upload_rejected", f"Upload {upload_id} is {found.size} bytes, not the size that was declared."
        )
    try:
        _refuse_file(filename, found.content_type)
    except UploadError as problem:
        raise UploadError("upload_rejected", f"Upload {upload_id}: {problem.message}") from None
    return VerifiedUpload(upload_id, key, filename, found.content_type, found.size)


def with_uploads(draft: Draft, uploads: Sequence[VerifiedUpload], store: UploadStore) -> Draft:
    """`draft` with the uploads' bytes appended as attachments (after any inline ones), each read and
    sniffed: UploadError (`upload_rejected`) for an executable or a file that changed since it was
    checked."""
    if not uploads:
        return draft
    attached = []
    for upload in uploads:
        data = store.read(upload.key)
        if len(data) != upload.size:
            raise UploadError("upload_rejected", f"Upload {upload.upload_id} changed after it was checked.")
        if data.startswith(_EXECUTABLE_MAGIC):
            raise UploadError("upload_rejected", f"Upload {upload.upload_id} is an executable program.")
        attached.append(Attachment(upload.filename, upload.content_type, data))
    return replace(draft, attachments=(*draft.attachments, *attached))
