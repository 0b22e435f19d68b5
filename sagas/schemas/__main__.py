"""Rewrite (or, with --check, verify) the example sagas' `.avsc` files from their classes."""

from __future__ import annotations

import sys

from orchestrator.saga import stale_schemas, write_schemas
from sagas.schemas import expected


def main(argv: list[str]) -> int:
    if argv not in ([], ["--check"]):
        print("usage: python -m sagas.schemas [--check]", file=sys.stderr)
        return 2
    if argv == ["--check"]:
        problems = stale_schemas(expected())
        for problem in problems:
            print(problem, file=sys.stderr)
        return 1 if problems else 0
    for path in write_schemas(expected()):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
