"""Base class of every message that travels on Kafka (commands, replies, start commands).

Each subclass names the Avro record it corresponds to; the `.avsc` under `schemas/` is the
contract shared with services in other languages.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

_BY_AVRO_NAME: dict[str, type[Message]] = {}


class Message(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    avro_name: ClassVar[str]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # The class keywords (avro_name) are consumed by __pydantic_init_subclass__, which
        # pydantic calls once the fields exist; object.__init_subclass__ accepts none.
        super().__init_subclass__()

    @classmethod
    def __pydantic_init_subclass__(cls, avro_name: str | None = None, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        if avro_name is None:
            raise TypeError(f"{cls.__qualname__}: a Message subclass must name its Avro record")
        cls.avro_name = avro_name
        _BY_AVRO_NAME[avro_name] = cls


def message_class(avro_name: str) -> type[Message]:
    try:
        return _BY_AVRO_NAME[avro_name]
    except KeyError:
        raise LookupError(f"no Message class is registered for Avro record {avro_name!r}") from None
