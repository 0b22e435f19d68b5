"""The inbox contract against MemoryInbox (one shared inbox; each handle is the same object)."""

from __future__ import annotations

from orchestrator.participant import Inbox, MemoryInbox
from tests.inbox_contract import InboxContract
from tests.support import eventually


class TestMemoryInbox(InboxContract):
    def setup_method(self) -> None:
        self.inbox = MemoryInbox()

    def new_inbox(self) -> Inbox:
        return self.inbox

    def wait_until_blocked(self) -> None:
        eventually(
            lambda: self.inbox.waiting,
            "a transaction waiting for the held one (transactions waiting)",
            until=lambda count: count > 0,
            timeout=15,
            interval=0.005,
        )
