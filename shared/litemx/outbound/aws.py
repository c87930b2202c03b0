"""S3 and SQS adapters of the outbound ports (boto3 lives here, clients are passed in)."""

from __future__ import annotations

import json
from typing import Any


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
    """The queue carries only the message id: the raw MIME stays in S3, so size never breaks the queue."""

    def __init__(self, client: Any, queue_url: str) -> None:
        self._client = client
        self._queue_url = queue_url

    def enqueue(self, message_id: str) -> None:
        self._client.send_message(
            QueueUrl=self._queue_url, MessageBody=json.dumps({"message_id": message_id})
        )

    def enqueue_later(self, message_id: str, *, delay_seconds: int, not_before: int, deferrals: int) -> None:
        """A fresh message, invisible for `delay_seconds` (SQS allows 0..900), that the sender tries at
        `not_before` (epoch seconds) at the earliest: a new message starts a new receive count, which is
        why deferring never pushes a message towards the DLQ."""
        body = {"message_id": message_id, "not_before": not_before, "deferrals": deferrals}
        self._client.send_message(
            QueueUrl=self._queue_url, MessageBody=json.dumps(body), DelaySeconds=delay_seconds
        )
