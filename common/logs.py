"""Logging set-up shared by every process: one line per record, with the trace and span ids of the current span.

JSON lines in production (ENVIRONMENT=prod, or LOG_FORMAT=json), for the log pipeline to parse; readable text
otherwise. Every record gets `trace_id` and `span_id` attributes ("" outside a trace), so a line can be joined to
its trace (docs/OPERATIONS.md).
"""

from __future__ import annotations

import datetime as dt
import json
import logging

from opentelemetry import trace


class TraceContext(logging.Filter):
    """Adds the current span's `trace_id` and `span_id` to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = trace.get_current_span().get_span_context()
        valid = context.is_valid
        record.trace_id = format(context.trace_id, "032x") if valid else ""
        record.span_id = format(context.span_id, "016x") if valid else ""
        return True


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self._service = service

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "service": self._service,
            "logger": record.name,
            "message": record.getMessage(),
            "trace_id": getattr(record, "trace_id", ""),
            "span_id": getattr(record, "span_id", ""),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__(f"%(asctime)s %(levelname)s {service} %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        trace_id = getattr(record, "trace_id", "")
        return f"{text} [trace {trace_id}]" if trace_id else text


def configure(level: str, service: str, *, json_lines: bool = False) -> None:
    handler = logging.StreamHandler()
    handler.addFilter(TraceContext())
    handler.setFormatter(JsonFormatter(service) if json_lines else TextFormatter(service))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
