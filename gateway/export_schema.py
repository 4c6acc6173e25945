"""`python -m gateway.export_schema [--check]`: write the schema's SDL to gateway/schema.graphql (or check it)."""

from __future__ import annotations

import sys
from pathlib import Path

from gateway.schema import sdl

SDL_PATH = Path(__file__).resolve().parent / "schema.graphql"


def main(argv: list[str]) -> int:
    text = sdl()
    if "--check" in argv:
        if not SDL_PATH.exists() or SDL_PATH.read_text() != text:
            print(f"{SDL_PATH} is out of date: run `python -m gateway.export_schema`", file=sys.stderr)
            return 1
        return 0
    SDL_PATH.write_text(text)
    print(f"wrote {SDL_PATH}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
