"""Exactly the DynamoDB actions each function's code performs, per table (IAM action names: the items of
a transaction count as PutItem / UpdateItem on their own tables, as IAM authorizes them).

Derived from the code paths: `make ddb-actions` records what the handlers do while the integration tests
drive them against DynamoDB Local (tests/ddb_recorder.py), and the paths those tests do not reach are
added by reading the code (marked below). tests/infra/test_least_privilege.py compares this table, the
synthesized policies and the recording. No function gets Scan, BatchWriteItem or DeleteItem, which
`grant_read_write_data` used to hand out, unless its code calls them.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

GET, BATCH_GET, QUERY = "dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query"
PUT, UPDATE, DELETE = "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"
CONDITION_CHECK = "dynamodb:ConditionCheckItem"

DYNAMODB_ACTIONS: Final[Mapping[str, Mapping[str, tuple[str, ...]]]] = MappingProxyType(
    {
        "api": {
            # Policy snapshot (batched read), contact marks in the decision's transaction, token lookups;
            # drafts (docs/agents.md): written, read, listed on the by_account index, updated, discarded.
            "directory": (BATCH_GET, GET, UPDATE, PUT, QUERY, DELETE),
            "suppression": (BATCH_GET,),
            # The decision's transaction: counter updates, and the condition check that yesterday's fan-out
            # counter did not move (first contacts with a fingerprinted body; recorded by make ddb-actions
            # since the reply tests send such bodies through the api handler).
            "usage": (BATCH_GET, UPDATE, CONDITION_CHECK),
            "audit": (PUT,),
            "messages": (GET, PUT),
            "inbound": (BATCH_GET, QUERY),
            # Powertools idempotency: put in progress, update on success; read the record on a conflict
            # and delete it when the request fails (code paths of the library, not reached by the tests).
            "idempotency": (GET, PUT, UPDATE, DELETE),
        },
        "sender": {
            # Claim (one UpdateItem for a batch of one, else a transaction of updates), batched reads, the
            # sent transition and its audit entry (two plain writes).
            "messages": (BATCH_GET, GET, UPDATE),
            # Kill-switch snapshot (batched read); a cancellation's refund deletes the contact marks its
            # message made (QuotaStore.refund: recorded by make ddb-actions).
            "directory": (BATCH_GET, DELETE),
            "suppression": (BATCH_GET,),
            # Quota give-back and the send-rate token bucket.
            "usage": (UPDATE,),
            "audit": (PUT,),
            # What it sent, counted into the hourly reputation buckets (plain ADD updates).
            "reputation": (UPDATE,),
        },
        "inbound": {
            "inbound": (PUT,),
            # Route to the mailbox (its item also carries its webhooks); record correspondents (UpdateItem)
            # and reply rights (PutItem: DirectoryStore.record_reply_right).
            "directory": (GET, UPDATE, PUT),
        },
        "webhooks": {
            # One batched read (subscription + delivery), a slot's lease taken and given back (updates),
            # the delivery's outcome (put).
            "webhooks": (BATCH_GET, PUT, UPDATE),
        },
        "feedback": {
            "suppression": (PUT,),
            # Attribution: the tagged message (GetItem), or the message SES knows by mail.messageId (Query
            # on the by_provider_message_id index, then GetItem); then its status update.
            "messages": (GET, QUERY, UPDATE),
            # Attribute to the mailbox; disable it or its account (read by code: admin.set_enabled).
            "directory": (GET, UPDATE),
            "feedback": (PUT, UPDATE),
            # The verdicts' windows: one Query per mailbox and account; the counts of each event.
            "reputation": (QUERY, UPDATE),
            "audit": (PUT,),  # the disablement's audit entry (read by code: admin.set_enabled)
        },
    }
)
