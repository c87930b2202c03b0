"""S3 and SQS adapters of the outbound ports (boto3 lives here, clients are passed in)."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError
from pynamodb.exceptions import UpdateError

from litemx.storage.tables import UsageCounter

if TYPE_CHECKING:
    # Imported where an upload is presigned or checked (the api's routes): the sender, which uses only
    # the queue, does not load the upload and MIME modules behind them.
    from litemx.outbound.uploads import PresignedPost, StoredObject


class S3BlobStore:
    def __init__(self, client: Any, bucket: str) -> None:
        self._client = client
        self._bucket = bucket

    def put(self, key: str, data: bytes) -> None:
        self._client.put_object(Bucket=self._bucket, Key=key, Body=data, ContentType="message/rfc822")

    def get(self, key: str) -> bytes:
        body: bytes = self._client.get_object(Bucket=self._bucket, Key=key)["Body"].read()
        return body


class SqsSendQueue:
    """The queue carries the message id, and a small message's MIME inline (base64, `raw`); a larger one
    stays in S3, so size never breaks the queue (service.INLINE_MAX_BYTES)."""

    def __init__(self, client: Any, queue_url: str) -> None:
        self._client = client
        self._queue_url = queue_url

    def enqueue(self, message_id: str, raw: bytes | None = None) -> None:
        self._client.send_message(QueueUrl=self._queue_url, MessageBody=json.dumps(_body(message_id, raw)))

    def enqueue_later(
        self,
        message_id: str,
        *,
        delay_seconds: int,
        not_before: int,
        deferrals: int,
        raw: bytes | None = None,
    ) -> None:
        """A fresh message, invisible for `delay_seconds` (SQS allows 0..900), that the sender tries at
        `not_before` (epoch seconds) at the earliest: a new message starts a new receive count, which is
        why deferring never pushes a message towards the DLQ. An inline MIME travels on with it."""
        body = {**_body(message_id, raw), "not_before": not_before, "deferrals": deferrals}
        self._client.send_message(
            QueueUrl=self._queue_url, MessageBody=json.dumps(body), DelaySeconds=delay_seconds
        )


def _body(message_id: str, raw: bytes | None) -> dict[str, str]:
    body = {"message_id": message_id}
    if raw is not None:
        body["raw"] = base64.b64encode(raw).decode("ascii")
    return body


class DynamoSendRate:
    """A token bucket per UTC second in the usage table (`send-rate#<epoch second>`), refilled by time:
    one conditional UpdateItem per message takes its recipients, so every concurrent sender together
    stays within `per_second`. A message with more recipients than `per_second` takes an empty second
    alone. When the current second is full it waits for the next one (at most a second) and tries once
    more, then answers when to retry."""

    def __init__(self, per_second: int, *, sleep: Any = time.sleep) -> None:
        self._per_second = per_second
        self._sleep = sleep

    def acquire(self, units: int, *, now: datetime) -> datetime | None:
        second = int(now.timestamp())
        if self._take(second, units):
            return None
        next_second = second + 1
        self._sleep(max(0.0, next_second - now.timestamp()))
        if self._take(next_second, units):
            return None
        return datetime.fromtimestamp(next_second + 1, now.tzinfo)

    def _take(self, second: int, units: int) -> bool:
        counter = UsageCounter(f"send-rate#{second}")
        room = UsageCounter.used.does_not_exist()
        if units <= self._per_second:
            room = room | (UsageCounter.used <= self._per_second - units)
        try:
            counter.update(
                actions=[UsageCounter.used.add(units), UsageCounter.expires_at.set(second + 3600)],
                condition=room,
            )
        except UpdateError as error:
            if error.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise
        return True


class S3UploadStore:
    """Uploads in the outbound bucket under `uploads/` (a lifecycle rule expires them after a day)."""

    def __init__(self, client: Any, bucket: str) -> None:
        self._client = client
        self._bucket = bucket

    def presign_post(
        self, key: str, *, content_type: str, size: int, metadata: Mapping[str, str], expires_in: int
    ) -> PresignedPost:
        """A POST policy, not a presigned PUT: only a POST policy's `content-length-range` makes S3 refuse
        a body of any other size. Every form field is an exact condition of the signed policy."""
        from litemx.outbound.uploads import PresignedPost

        fields = {"Content-Type": content_type, **{f"x-amz-meta-{k}": v for k, v in metadata.items()}}
        conditions: list[Any] = [{name: value} for name, value in fields.items()]
        conditions.append(["content-length-range", size, size])
        post = self._client.generate_presigned_post(
            Bucket=self._bucket, Key=key, Fields=fields, Conditions=conditions, ExpiresIn=expires_in
        )
        return PresignedPost(url=str(post["url"]), fields={str(k): str(v) for k, v in post["fields"].items()})

    def head(self, key: str) -> StoredObject | None:
        from litemx.outbound.uploads import StoredObject

        try:
            found = self._client.head_object(Bucket=self._bucket, Key=key)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
                return None
            raise
        return StoredObject(
            size=int(found["ContentLength"]),
            content_type=str(found.get("ContentType", "")),
            metadata={str(k).lower(): str(v) for k, v in (found.get("Metadata") or {}).items()},
        )

    def read(self, key: str) -> bytes:
        body: bytes = self._client.get_object(Bucket=self._bucket, Key=key)["Body"].read()
        return body
