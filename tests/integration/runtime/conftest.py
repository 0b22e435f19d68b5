"""The runtime's PostgreSQL adapters run on the event-store tests' private databases."""

from tests.integration.event_store.conftest import clean_db, module_db

__all__ = ["clean_db", "module_db"]
