"""Catalogs for the export tests: this repository's, or one written into a folder from a mapping."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tchu.catalog_files import CatalogEntry, load_catalog

ROOT = Path(__file__).resolve().parents[2]


def catalog() -> list[CatalogEntry]:
    """This repository's catalog, ``schemas/``."""
    return load_catalog(ROOT / "schemas", label="schemas")


def write(root: Path, files: dict[str, Any]) -> Path:
    """Write each ``{relative path: JSON document}`` under ``root``; returns ``root``."""
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(content), encoding="utf-8")
    return root
