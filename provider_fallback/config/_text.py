"""Reading a config-like text file whatever wrote it: UTF-8 (with or without a BOM), and
UTF-16 / UTF-32 with a BOM, which is what Windows PowerShell 5.1's `>` and `Out-File`
write (`import-litellm proxy.yaml > provider_config.yaml` makes a UTF-16 LE file)."""

from __future__ import annotations

import codecs
import os
from pathlib import Path

__all__ = ["NOT_TEXT_FIX", "decode_text", "read_text_file"]

_BOMS = ((codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF32_BE, "utf-32-be"),
         (codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"),
         (codecs.BOM_UTF16_BE, "utf-16-be"))
NOT_TEXT_FIX = ("save it as UTF-8 (Notepad: Save as > Encoding: UTF-8; PowerShell: "
                "`Get-Content FILE | Set-Content -Encoding utf8 FILE`)")


def decode_text(data: bytes) -> str:
    """The text of `data`: a BOM decides the encoding, else UTF-8; UTF-16 without a BOM
    is recognised by its NUL bytes. Raises UnicodeDecodeError for anything else."""
    for bom, encoding in _BOMS:   # UTF-32 LE first: its BOM starts like UTF-16 LE's
        if data.startswith(bom):
            return data[len(bom):].decode(encoding)
    if len(data) >= 2 and b"\x00" in data[:200]:
        even, odd = data[0:200:2].count(0), data[1:200:2].count(0)
        if odd > even:
            return data.decode("utf-16-le")
        if even > odd:
            return data.decode("utf-16-be")
    return data.decode("utf-8")


def read_text_file(path: str | os.PathLike[str]) -> str:
    """`path`'s text as `decode_text` reads it (OSError / UnicodeDecodeError propagate)."""
    return decode_text(Path(path).read_bytes())
