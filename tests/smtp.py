"""A real SMTP server (aiosmtpd) on a free port, for email tests."""

from __future__ import annotations

import email
import email.policy
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from tests.live import free_port


@dataclass
class Inbox:
    host: str
    port: int
    messages: list[Any] = field(default_factory=list)
    refuse: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.refuse:
            return "451 Try again later"
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.lock:
            self.messages.append(message)
        return "250 OK"

    def wait_for(self, count: int, timeout: float = 10) -> list[Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.messages) >= count:
                    return list(self.messages)
            time.sleep(0.05)
        raise AssertionError(f"expected {count} messages, got {len(self.messages)}")

    def to(self, address: str) -> list[Any]:
        return [m for m in self.messages if m["To"] == address]


def bodies(message: Any) -> tuple[str, str]:
    """The plain-text and the HTML body of a message."""
    return (
        message.get_body(preferencelist=("plain",)).get_content().replace("\r\n", "\n"),
        message.get_body(preferencelist=("html",)).get_content().replace("\r\n", "\n"),
    )


@contextmanager
def smtp_server() -> Iterator[Inbox]:
    from aiosmtpd.controller import Controller

    inbox = Inbox(host="127.0.0.1", port=free_port())
    controller = Controller(inbox, hostname=inbox.host, port=inbox.port)
    controller.start()
    try:
        yield inbox
    finally:
        controller.stop()
