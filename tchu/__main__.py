"""``python -m tchu``: the ``tchu`` command (:mod:`tchu.cli`), run as a module."""

from __future__ import annotations

import sys

from tchu.cli import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
