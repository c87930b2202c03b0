"""Attachments by upload: what is signed, what a send checks before its decision, what is composed."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from litemx.mail.compose import Attachment, Draft, compose
from litemx.outbound.uploads import (
    MAX_UPLOAD_BYTES,
    PresignedPost,
    StoredObject,
    UploadError,
    encoded_size,
    new_upload,
    upload_key,
    verify_uploads,
    with_uploads,
)

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
ACCOUNT = "acc-000000000001"


@dataclass
class FakeUploads:
    objects: dict[str, tuple[bytes, str, dict[str, str]]] = field(default_factory=dict)
    signed: list[tuple[str, str, int, dict[str, str], int]] = field(default_factory=list)
    heads: list[str] = field(default_factory=list)
    reads: list[str] = field(default_factory=list)

    def presign_post(
        self, key: str, *, content_type: str, size: int, metadata: Mapping[str, str], expires_in: int
    ) -> PresignedPost:
        self.signed.append((key, content_type, size, dict(metadata), expires_in))
        return PresignedPost(url="https://bucket.s3.test/", fields={"key": key})

    def head(self, key: str) -> StoredObject | None:
        self.heads.append(key)
        if key not in self.objects:
            return None
        data, content_type, metadata = self.objects[key]
        return StoredObject(len(data), content_type, metadata)

    def read(self, key: str) -> bytes:
        self.reads.append(key)
        return self.objects[key][0]

    def uploaded(self, data: bytes, content_type: str = "application/pdf", filename: str = "a.pdf") -> str:
        ticket = new_upload(
            ACCOUNT,
            "tok-1",
            filename=filename,
            content_type=content_type,
            size=len(data),
            store=self,
            now=NOW,
        )
        key, _, _, metadata, _ = self.signed[-1]
        self.objects[key] = (data, content_type, metadata)
        return ticket.upload_id


def test_the_signed_post_binds_key_type_size_and_expiry() -> None:
    store = FakeUploads()
    ticket = new_upload(
        ACCOUNT,
        "tok-1",
        filename="Q3 report.pdf",
        content_type="application/pdf",
        size=1234,
        store=store,
        now=NOW,
    )
    [(key, content_type, size, metadata, expires_in)] = store.signed
    assert key == upload_key(ACCOUNT, ticket.upload_id) == f"uploads/{ACCOUNT}/{ticket.upload_id}"
    assert (content_type, size, expires_in) == ("application/pdf", 1234, 900)
    assert metadata == {"filename": "Q3%20report.pdf", "token": "tok-1", "size": "1234"}
    assert (ticket.expires_at - NOW).total_seconds() == 900


@pytest.mark.parametrize(
    ("filename", "content_type", "size"),
    [
        ("setup.EXE", "application/octet-stream", 10),
        ("run.ps1", "text/plain", 10),
        ("a.bin", "application/x-msdownload", 10),
        ("a.bin", "not a type", 10),
        ("a\r\nb.txt", "text/plain", 10),
        ("a.txt", "text/plain", 0),
        ("a.txt", "text/plain", MAX_UPLOAD_BYTES + 1),
    ],
)
def test_uploads_that_cannot_be_sent_are_refused_before_signing(
    filename: str, content_type: str, size: int
) -> None:
    store = FakeUploads()
    with pytest.raises(UploadError) as refused:
        new_upload(
            ACCOUNT, "tok-1", filename=filename, content_type=content_type, size=size, store=store, now=NOW
        )
    assert refused.value.code == "upload_invalid"
    assert store.signed == []


def test_a_send_finds_only_its_own_accounts_uploads() -> None:
    # Given an upload of another account, and ids that are not upload ids at all
    store = FakeUploads()
    theirs = new_upload(
        "acc-000000000002", "tok-2", filename="a.txt", content_type="text/plain", size=1, store=store, now=NOW
    )
    store.objects[store.signed[-1][0]] = (b"x", "text/plain", store.signed[-1][3])
    for upload_id in (theirs.upload_id, "upl-../../outbound/x", "upl-" + "0" * 32):
        with pytest.raises(UploadError) as refused:
            verify_uploads(ACCOUNT, [upload_id], store, inline_bytes=0, max_message_bytes=40_000_000)
        assert refused.value.code == "upload_not_found"
    # Then no key outside the caller's prefix was ever asked for
    assert all(key.startswith(f"uploads/{ACCOUNT}/upl-") for key in store.heads)


def test_a_stored_file_unlike_its_declaration_is_rejected() -> None:
    store = FakeUploads()
    upload_id = store.uploaded(b"1234567890", content_type="text/plain", filename="a.txt")
    key = upload_key(ACCOUNT, upload_id)
    data, content_type, metadata = store.objects[key]
    store.objects[key] = (data * 2, content_type, metadata)  # larger than declared
    with pytest.raises(UploadError) as refused:
        verify_uploads(ACCOUNT, [upload_id], store, inline_bytes=0, max_message_bytes=40_000_000)
    assert refused.value.code == "upload_rejected"
    store.objects[key] = (data, "application/x-msdownload", metadata)  # a type that may not be sent
    with pytest.raises(UploadError) as refused:
        verify_uploads(ACCOUNT, [upload_id], store, inline_bytes=0, max_message_bytes=40_000_000)
    assert refused.value.code == "upload_rejected"


def test_the_message_size_is_checked_before_any_file_is_read() -> None:
    store = FakeUploads()
    ids = [store.uploaded(b"x" * 600_000, filename=f"{i}.pdf") for i in range(2)]
    with pytest.raises(UploadError) as refused:
        verify_uploads(ACCOUNT, ids, store, inline_bytes=0, max_message_bytes=1_000_000)
    assert refused.value.code == "message_too_large"
    assert "limit is 1000000 bytes" in refused.value.message
    assert store.reads == []
    with pytest.raises(UploadError) as duplicate:
        verify_uploads(ACCOUNT, [ids[0], ids[0]], store, inline_bytes=0, max_message_bytes=40_000_000)
    assert duplicate.value.code == "upload_invalid"


def test_an_executable_is_rejected_when_read_whatever_its_declared_type() -> None:
    store = FakeUploads()
    upload_id = store.uploaded(b"MZ\x90\x00" + b"\x00" * 60, content_type="application/pdf", filename="a.pdf")
    verified = verify_uploads(ACCOUNT, [upload_id], store, inline_bytes=0, max_message_bytes=40_000_000)
    with pytest.raises(UploadError) as refused:
        with_uploads(Draft(from_address="a@example.com", to=("b@x.test",), text="x"), verified, store)
    assert refused.value.code == "upload_rejected"


def test_uploaded_files_become_attachments_after_the_inline_ones() -> None:
    store = FakeUploads()
    upload_id = store.uploaded(b"%PDF-1.7 hello", filename="Grüße.pdf")
    verified = verify_uploads(ACCOUNT, [upload_id], store, inline_bytes=0, max_message_bytes=40_000_000)
    draft = with_uploads(Draft(from_address="a@example.com", to=("b@x.test",), text="x"), verified, store)
    [attachment] = draft.attachments
    assert (attachment.filename, attachment.content_type, attachment.data) == (
        "Grüße.pdf",
        "application/pdf",
        b"%PDF-1.7 hello",
    )


@given(st.binary(max_size=5000))
def test_the_size_estimate_covers_the_encoded_attachment(data: bytes) -> None:
    # The estimate used before reading any file is never below what the file takes in the message
    draft = Draft(from_address="a@example.com", to=("b@x.test",), text="x")
    bare = len(compose(draft, now=NOW).raw)
    with_file = compose(
        Draft(
            from_address="a@example.com",
            to=("b@x.test",),
            text="x",
            attachments=(Attachment("f.bin", "application/octet-stream", data),),
        ),
        now=NOW,
    )
    assert len(with_file.raw) - bare <= encoded_size(len(data)) + 1024
    assert encoded_size(len(data)) >= len(base64.b64encode(data))
