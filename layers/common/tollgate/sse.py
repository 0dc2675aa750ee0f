"""Server-sent events: an incremental decoder for upstream streams and an encoder for clients.

Follows the WHATWG event-stream rules that matter to LLM APIs: lines end in LF, CRLF or CR;
``data:`` lines of one event are joined with LF; a blank line ends the event; lines starting
with ``:`` are comments; one optional space after the colon is dropped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Event:
    """One server-sent event: its data and, if named, its event type."""

    data: str
    event: str | None = None

    def json(self) -> Any:
        return json.loads(self.data)


class SSEDecoder:
    """Feed it bytes as they arrive; it returns the events completed so far."""

    def __init__(self) -> None:
        self._buffer = ""
        self._pending = b""
        self._data: list[str] = []
        self._event: str | None = None

    def feed(self, chunk: bytes) -> list[Event]:
        text = self._decode(chunk)
        self._buffer += text
        events: list[Event] = []
        while True:
            line, found = self._next_line()
            if not found:
                return events
            event = self._line(line)
            if event is not None:
                events.append(event)

    def close(self) -> list[Event]:
        """Events left when the stream ends without a final blank line."""
        events = self.feed(b"\n\n") if (self._buffer or self._data) else []
        return events

    def _decode(self, chunk: bytes) -> str:
        data = self._pending + chunk
        try:
            text = data.decode("utf-8")
            self._pending = b""
        except UnicodeDecodeError as error:
            if error.start < len(data) - 3:
                raise
            text, self._pending = data[: error.start].decode("utf-8"), data[error.start :]
        return text

    def _next_line(self) -> tuple[str, bool]:
        for index, char in enumerate(self._buffer):
            if char == "\n" or char == "\r":
                if char == "\r" and index + 1 == len(self._buffer):
                    return "", False  # a CR at the end may be the first half of CRLF
                end = index + 2 if self._buffer[index : index + 2] == "\r\n" else index + 1
                line, self._buffer = self._buffer[:index], self._buffer[end:]
                return line, True
        return "", False

    def _line(self, line: str) -> Event | None:
        if not line:
            if not self._data:
                self._event = None
                return None
            event = Event(data="\n".join(self._data), event=self._event)
            self._data, self._event = [], None
            return event
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        return None


def encode(data: Any, event: str | None = None) -> bytes:
    """One event; ``data`` that is not a string is sent as compact JSON."""
    text = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    head = f"event: {event}\n" if event else ""
    body = "".join(f"data: {line}\n" for line in text.split("\n"))
    return f"{head}{body}\n".encode()
