"""Attachments by upload, end to end against moto's S3: POST /v1/uploads, the presigned POST made with
urllib as a client would, a send that references the upload, the sender, and the raw message SES got."""

from __future__ import annotations

import email
import email.policy
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from functions import wiring
from litemx.directory import admin
from litemx.directory.models import Scope
from litemx.plans import Plan
from tests.integration.outbound import BUCKET, Pipeline, make_pipeline


@pytest.fixture
def pipeline(tables, local_aws, monkeypatch) -> Iterator[Pipeline]:
    yield make_pipeline(tables, local_aws, monkeypatch)
    wiring.reset_for_tests()


def post_form(ticket: dict[str, Any], data: bytes, filename: str = "file.bin") -> int:
    """The multipart/form-data POST a browser or `curl -F` makes: every field, then the file, last."""
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in ticket["fields"].items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n".encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    request = urllib.request.Request(
        ticket["url"],
        data=b"".join(parts),
        method="POST",
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status)
    except urllib.error.HTTPError as refused:
        return int(refused.code)


def upload(
    pipeline: Pipeline, *, filename: str, content_type: str, size: int, mailbox: str | None = None
) -> Any:
    sender = mailbox or pipeline.world.mailboxes[0].address
    return pipeline.api(
        "POST",
        "/v1/uploads",
        body={"filename": filename, "content_type": content_type, "size": size},
        token=pipeline.world.secrets[sender],
    )


def test_an_uploaded_attachment_is_sent_in_the_raw_message(pipeline: Pipeline) -> None:
    # Given a 3 MB PDF uploaded through the presigned POST (too large for most JSON sends beside others)
    data = b"%PDF-1.7\n" + bytes(range(256)) * (3 * 1024 * 1024 // 256)
    ticket = upload(pipeline, filename="Rechnung März.pdf", content_type="application/pdf", size=len(data))
    assert ticket.status == 201, ticket.body
    assert ticket.body["id"].startswith("upl-")
    assert ticket.body["method"] == "POST"
    assert ticket.body["max_bytes"] == len(data)
    assert post_form(ticket.body, data) in {200, 201, 204}

    # When a send references it, and the sender runs
    answer = pipeline.send(
        {"to": ["alice@outside.test"], "subject": "Invoice", "text": "Attached.", "attachments": [
            {"upload_id": ticket.body["id"]}
        ]}
    )  # fmt: skip
    assert answer.status == 202, answer.body
    assert pipeline.drain() == []

    # Then SES got the message with the file, byte for byte, under its filename
    [sent] = pipeline.sent_raw()
    message = email.message_from_string(sent["raw_data"], policy=email.policy.default)
    [attachment] = list(message.iter_attachments())
    assert attachment.get_filename() == "Rechnung März.pdf"
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_payload(decode=True) == data


def test_a_file_larger_than_declared_is_refused_and_nothing_is_counted(pipeline: Pipeline) -> None:
    # Given an upload declared as 10 bytes, and 20 bytes sent to it
    ticket = upload(pipeline, filename="notes.txt", content_type="text/plain", size=10)
    assert ticket.status == 201
    if post_form(ticket.body, b"x" * 20) >= 300:
        # S3 refused it (the policy's content-length-range); put it there anyway, as a store that did not
        # enforce the policy would, so that the send's own check is what is tested
        key = f"uploads/{pipeline.world.account.account_id}/{ticket.body['id']}"
        metadata = {
            k[len("x-amz-meta-") :]: v
            for k, v in ticket.body["fields"].items()
            if k.startswith("x-amz-meta-")
        }
        boto3.client("s3").put_object(
            Bucket=BUCKET, Key=key, Body=b"x" * 20, ContentType="text/plain", Metadata=metadata
        )

    # When a send references it
    answer = pipeline.send(
        {"to": ["alice@outside.test"], "text": "x", "attachments": [{"upload_id": ticket.body["id"]}]}
    )

    # Then it is refused before the decision: nothing queued, nothing counted
    assert (answer.status, answer.body["error"]["code"]) == (422, "upload_rejected")
    assert pipeline.receive() == []
    usage = pipeline.api(
        "GET", "/v1/usage", token=pipeline.world.secrets[pipeline.world.mailboxes[0].address]
    )
    assert all(u["used"] == 0 for u in usage.body["usage"])


def test_another_accounts_upload_is_not_found(pipeline: Pipeline) -> None:
    # Given a file uploaded by the world's account
    ticket = upload(pipeline, filename="a.txt", content_type="text/plain", size=5)
    assert post_form(ticket.body, b"hello") in {200, 201, 204}
    # And a second account with its own mailbox and token
    world = pipeline.world
    other = admin.create_account(
        world.directory, world.audit, world.clock, name="Other", plan=Plan.FREE, actor="operator"
    )
    world.directory.add_domain("other.test", other.account_id, now=world.clock.now())
    box = world.directory.create_mailbox("me@other.test", other.account_id, now=world.clock.now())
    issued = admin.issue_token(
        world.directory,
        world.audit,
        world.clock,
        mailbox=box,
        scopes=frozenset({Scope.SEND}),
        actor="operator",
    )

    # When the other account references it
    answer = pipeline.api(
        "POST",
        "/v1/messages",
        body={"from": "me@other.test", "to": ["a@outside.test"], "text": "x", "attachments": [
            {"upload_id": ticket.body["id"]}
        ]},
        token=issued.secret,
    )  # fmt: skip

    # Then it does not exist for that account
    assert (answer.status, answer.body["error"]["code"]) == (400, "upload_not_found")
    assert pipeline.receive() == []


def test_uploads_refuse_executables_and_oversize_declarations(pipeline: Pipeline) -> None:
    cases = {
        "exe": upload(pipeline, filename="setup.exe", content_type="application/octet-stream", size=10),
        "too big": upload(pipeline, filename="big.bin", content_type="application/octet-stream", size=10**9),
    }
    assert (cases["exe"].status, cases["exe"].body["error"]["code"]) == (400, "upload_invalid")
    assert (cases["too big"].status, cases["too big"].body["error"]["code"]) == (400, "upload_invalid")
    # Without a token nothing is signed
    anonymous = pipeline.api(
        "POST", "/v1/uploads", body={"filename": "a", "content_type": "text/plain", "size": 1}
    )
    assert (anonymous.status, anonymous.body["error"]["code"]) == (401, "token_invalid")
