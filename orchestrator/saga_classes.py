"""`SAGA_SAGAS` (`module:Class,module:Class`) turned into the saga classes it names: what every
process and `sagactl` folds and decides with, loaded in one place.

Outside the `orchestrator.saga` package on purpose: it reads the settings' error type, and the
settings load the database driver, which the pure saga engine never imports."""

from __future__ import annotations

import importlib

from orchestrator.config import ConfigError
from orchestrator.saga import Saga


def load_sagas(spec: str) -> list[type[Saga]]:
    """`module:Class,module:Class` → the saga classes (SAGA_SAGAS)."""
    classes: list[type[Saga]] = []
    for item in filter(None, (part.strip() for part in spec.split(","))):
        module_name, _, class_name = item.partition(":")
        try:
            found = getattr(importlib.import_module(module_name), class_name)
        except (ImportError, AttributeError) as exc:
            raise ConfigError(f"SAGA_SAGAS: cannot load {item!r}: {exc}") from None
        if not (isinstance(found, type) and issubclass(found, Saga)):
            raise ConfigError(f"SAGA_SAGAS: {item!r} is not a Saga subclass")
        classes.append(found)
    if not classes:
        raise ConfigError("SAGA_SAGAS names no saga class")
    return classes
