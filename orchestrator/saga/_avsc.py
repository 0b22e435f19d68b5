"""The `.avsc` files written from the Message classes: each saga's beside its module
(``<module dir>/schemas/<saga name>/``), the orchestrator's own beside its control messages.

The classes are the source; the files are what services in other languages, and
``sagactl schemas``, read. ``stale_schemas`` says which files differ from what the classes
generate now (a test keeps them current); ``write_schemas`` rewrites them.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Mapping
from pathlib import Path

from orchestrator.messages import Message, schema_text
from orchestrator.saga._control import CONTROL_MESSAGES
from orchestrator.saga._saga import Saga

CONTROL_SCHEMA_DIR = Path(__file__).parent / "schemas"


def schema_dir_of(saga: type[Saga]) -> Path:
    return Path(inspect.getfile(saga)).parent / "schemas" / saga.definition.name


def generated_schemas(sagas: Iterable[type[Saga]]) -> dict[Path, str]:
    """Path -> text of every `.avsc` the classes generate: the control messages' and, for
    each saga, those of the messages it sends and receives (its own, not the control ones)."""
    files = {_path(CONTROL_SCHEMA_DIR, m): _text(m) for m in CONTROL_MESSAGES}
    for saga in sagas:
        directory = schema_dir_of(saga)
        for message in saga.definition.message_types.values():
            if message not in CONTROL_MESSAGES and message.avro_schema.generated:
                files[_path(directory, message)] = _text(message)
    return files


def stale_schemas(expected: Mapping[Path, str]) -> list[str]:
    """What differs between ``expected`` and the files on disk, one line each: a missing or
    changed file, or an `.avsc` in one of the directories that nothing generates."""
    problems = []
    for path, text in sorted(expected.items()):
        if not path.is_file():
            problems.append(f"{path}: missing")
        elif path.read_text(encoding="utf-8") != text:
            problems.append(f"{path}: differs from its class")
    for directory in sorted({p.parent for p in expected}):
        for path in sorted(directory.glob("*.avsc")) if directory.is_dir() else []:
            if path not in expected:
                problems.append(f"{path}: no class generates it")
    return problems


def write_schemas(expected: Mapping[Path, str]) -> list[Path]:
    """Write the files that are missing or stale and delete the orphans; the paths touched."""
    touched = []
    for directory in sorted({p.parent for p in expected}):
        directory.mkdir(parents=True, exist_ok=True)
        for path in sorted(directory.glob("*.avsc")):
            if path not in expected:
                path.unlink()
                touched.append(path)
    for path, text in sorted(expected.items()):
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            touched.append(path)
    return touched


def _path(directory: Path, message: type[Message]) -> Path:
    return directory / f"{message.avro_schema.schema['name']}.avsc"


def _text(message: type[Message]) -> str:
    return schema_text(dict(message.avro_schema.schema))
