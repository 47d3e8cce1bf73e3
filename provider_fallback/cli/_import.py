"""`provider-fallback import-litellm proxy_config.yaml > provider_config.yaml`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
import yaml
from rich.markup import escape

from ..config import config_from_dict
from ..setup import render_yaml
from ..setup._litellm import convert_litellm
from ._common import err_console, fail, friendly_errors

__all__ = ["import_litellm"]


def import_litellm(file: Annotated[Path, typer.Argument(help="LiteLLM proxy config (proxy_config.yaml)")],
                   output: Annotated[Path | None, typer.Option("--output", "-o", help="Write here instead of stdout")] = None) -> None:
    """Convert a LiteLLM proxy config to ours; report what could not be mapped (stderr)."""
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8-sig"))
    except OSError as exc:
        raise fail(f"cannot read {file}: {exc.strerror}", code="config_error") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise fail(f"{file} is not valid YAML{where}", code="litellm_config_error") from None
    if not isinstance(data, dict) or not data.get("model_list"):
        raise fail(f"{file} has no model_list: is it a LiteLLM proxy config?",
                   code="litellm_no_models")
    result = convert_litellm(data)
    stand_ins = {name: "import-validation-placeholder" for name in result.variables}
    with friendly_errors():   # the output must load; a bug here is a clean config_error
        config_from_dict(result.config, source="imported config", environ=stand_ins)
    text = render_yaml(result.config).replace("written by `provider-fallback init`",
                                              f"imported from {file.name} by `import-litellm`")
    if output is not None:
        output.write_text(text, encoding="utf-8")
    else:
        print(text, end="")
    for note in result.notes:
        err_console.print(f"[yellow]warning[/] {escape(f'[{note.code}]')} "
                          f"{escape(note.where)}: {escape(note.message)}", soft_wrap=True)
    if result.variables:
        err_console.print(f"set before serving: {', '.join(result.variables)}", markup=False)
    err_console.print(f"imported {len(result.config['providers'])} providers, "
                      f"{len(result.config['models'])} models; {len(result.notes)} notes",
                      markup=False)
