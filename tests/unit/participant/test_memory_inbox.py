"""The inbox contract against MemoryInbox (one shared inbox; each handle is the same object)."""

from __future__ import annotations

import time

from orchestrator.participant import Inbox, MemoryInbox
from tests.inbox_contract import InboxContract


class TestMemoryInbox(InboxContract):
    def setup_method(self) -> None:
        self.inbox = MemoryInbox()

    def new_inbox(self) -> Inbox:
        return self.inbox

    def wait_until_blocked(self) -> None:
        deadline = time.monotonic() + 15
        while self.inbox.waiting == 0:
            assert time.monotonic() < deadline, "no transaction ever waited for the held one"
            time.sleep(0.005)
