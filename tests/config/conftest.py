from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def write_config(tmp_path: Path):
    """write_config(text, dotenv=None) -> path of provider_config.yaml in a fresh dir."""

    def write(text: str, dotenv: str | None = None) -> Path:
        path = tmp_path / "provider_config.yaml"
        path.write_text(text, encoding="utf-8")
        if dotenv is not None:
            (tmp_path / ".env").write_text(dotenv, encoding="utf-8")
        return path

    return write
