"""JSON logs on stdout, each line carrying the request id."""

from __future__ import annotations

import logging
import sys

import structlog
from asgi_correlation_id import correlation_id


def _add_request_id(_: object, __: str, event: dict) -> dict:
    request_id = correlation_id.get()
    if request_id and "request_id" not in event:
        event["request_id"] = request_id
    return event


def _drop_color_message(_: object, __: str, event: dict) -> dict:
    """uvicorn passes an ANSI-coloured copy of its message as an extra; JSON lines do not want it."""
    event.pop("color_message", None)
    return event


class _ClientGone(logging.Filter):
    """A live subscriber that disconnects while a push is on its way makes strawberry log "Exception in worker
    task" with a traceback: the client left, nothing failed. That is one info line without the traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if exc is not None and type(exc).__name__ == "WebSocketDisconnected":
            record.levelno, record.levelname = logging.INFO, "INFO"
            record.msg, record.args = "a live subscriber disconnected while a message was sent to it", None
            record.exc_info, record.exc_text = None, None
        return True


def configure_logging(level: str = "INFO", fmt: str = "json") -> None:
    renderer = structlog.processors.JSONRenderer() if fmt == "json" else structlog.dev.ConsoleRenderer()
    shared = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _add_request_id,
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*shared, structlog.stdlib.ExtraAdder(), _drop_color_message],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("strawberry.ws.task").addFilter(_ClientGone())
    for noisy in ("uvicorn.access",):
        logging.getLogger(noisy).disabled = True
    for name in ("uvicorn", "uvicorn.error", "arq"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
