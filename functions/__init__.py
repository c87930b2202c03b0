"""LiteMX's Lambda handlers, one package each (functions/<name>/handler.py).

A handler's init loads some 500 modules whose objects (modules, classes, functions) live as long as the
process, and Python's cyclic garbage collector walks them again and again while they load: in the api's
init a hundred collections, one of them full, 40 to 50 ms of its 400, to free next to nothing. So in
Lambda the collector is off while a handler listed in READY_HANDLERS loads, and its module ends with
`ready()`, which freezes what init made (gc.freeze: no later collection walks it again; the few cycles init
left behind stay, a fraction of a MB) and turns the collector back on for the invocations. Lambda names
the handler in its reserved variable `_HANDLER` before init; anywhere else (tests, the local system, the
CLI), and for a handler not listed, the collector is left as it is.
"""

from __future__ import annotations

import gc
import os

# Handlers whose module ends with ready() (a unit test checks each one does).
READY_HANDLERS = (
    "functions.api.handler",
    "functions.sender.handler",
    "functions.inbound.handler",
    "functions.feedback.handler",
    "functions.webhooks.handler",
)
_initializing = os.environ.get("_HANDLER", "").rpartition(".")[0] in READY_HANDLERS
if _initializing:
    gc.disable()


def ready() -> None:
    """The end of a handler's init: freeze what it made, and collect garbage again from now on."""
    global _initializing
    if _initializing:
        _initializing = False
        gc.freeze()
        gc.enable()
