"""One botocore session per process, and the AWS clients made from it (store module: botocore lives here).

A botocore session loads each service's model (its JSON description) once and caches it; every session
made anew loads them again. pynamodb makes a session per model connection, and `boto3.client` another,
so a handler's first call used to load the DynamoDB model once per table model and store and take
hundreds of milliseconds doing it. Everything here shares one session: the pynamodb models and stores
through one `Connection` per region and endpoint, and the handlers' S3, SQS and SES clients.

Clients come from botocore directly, not boto3: boto3 adds nothing the stores use (botocore's S3 client
presigns POSTs too), and importing it costs a cold start what its s3transfer and resource layers take.
"""

from __future__ import annotations

import threading
from functools import cache
from typing import Any

import botocore.session
from pynamodb.connection import Connection

_lock = threading.RLock()


@cache
def aws_session() -> botocore.session.Session:
    """The process's botocore session: credentials, region and service models resolved once."""
    return botocore.session.get_session()


def client(service: str) -> Any:
    """A client of `service` from the shared session, one per service and process (botocore clients are
    safe to share between threads; creating them is not, hence the lock)."""
    with _lock:
        return _client(service)


@cache
def _client(service: str) -> Any:
    return aws_session().create_client(service)


class LazyClient:
    """Stands for `client(service)` and creates it on first use: loading a service's model costs a first
    call tens of milliseconds (S3's most), so a client that a call may never use (the send queue for a
    sender that defers nothing, SES v1 outside the sandbox) is not made up front."""

    def __init__(self, service: str) -> None:
        self._service = service

    def __getattr__(self, name: str) -> Any:
        return getattr(client(self._service), name)


def lazy_client(service: str) -> Any:
    return LazyClient(service)


class SharedConnection(Connection):
    """A pynamodb connection whose botocore session is the process's one, and whose DynamoDB client is
    created once (under a lock: pynamodb otherwise makes a session per thread for the same reason)."""

    @property
    def session(self) -> botocore.session.Session:
        return aws_session()

    @property
    def client(self) -> Any:
        with _lock:
            return super().client

    def forget_client(self) -> None:
        with _lock:
            self._client = None


def shared_connection(region: str | None = None, host: str | None = None) -> Connection:
    """The one pynamodb connection for this region and endpoint (None: from the environment)."""
    with _lock:
        connection = _connections.get((region, host))
        if connection is None:
            connection = _connections[(region, host)] = SharedConnection(region=region, host=host)
        return connection


_connections: dict[tuple[str | None, str | None], SharedConnection] = {}


def reset_session() -> None:
    """Forget the session and its clients: tests change the environment (endpoints, credentials) between
    cases, and a session keeps what it resolved. Connections stay (the models are bound to them) and make
    a new client from the new session on their next request."""
    with _lock:
        _client.cache_clear()
        aws_session.cache_clear()
        for connection in _connections.values():
            connection.forget_client()
