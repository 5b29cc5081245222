"""A live subscriber that leaves while a push is on its way is an info line, not an error with a traceback."""

from __future__ import annotations

import io
import json
import logging

from strawberry.http.exceptions import WebSocketDisconnected

from valueverse.logs import configure_logging


def test_a_subscriber_gone_mid_push_is_one_info_line_without_a_traceback() -> None:
    root = logging.getLogger()
    kept = root.handlers[:], root.level
    configure_logging()
    out = io.StringIO()
    root.handlers[0].setStream(out)  # type: ignore[attr-defined]
    try:
        _log_both()
    finally:
        root.handlers[:], level = kept
        root.setLevel(level)
    gone, failed = (json.loads(line) for line in out.getvalue().splitlines())
    assert (gone["level"], "exception" in gone) == ("info", False)
    assert gone["event"] == "a live subscriber disconnected while a message was sent to it"
    assert failed["level"] == "error" and "ValueError: a real failure" in failed["exception"]


def _log_both() -> None:
    try:
        raise WebSocketDisconnected()
    except WebSocketDisconnected:
        logging.getLogger("strawberry.ws.task").exception("Exception in worker task")
    try:
        raise ValueError("a real failure")
    except ValueError:
        logging.getLogger("strawberry.ws.task").exception("Exception in worker task")
