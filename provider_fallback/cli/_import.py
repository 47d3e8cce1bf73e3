"""`provider-fallback import-litellm proxy_config.yaml -o provider_config.yaml`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
import yaml

from ..config import config_from_dict
from ..config._text import NOT_TEXT_FIX, read_text_file
from ..setup import render_yaml
from ..setup._litellm import convert_litellm
from ._common import err_console, escape, fail, friendly_errors

__all__ = ["import_litellm"]

_SEE_EXAMPLE = "(see .env.example)"


def import_litellm(file: Annotated[Path, typer.Argument(help="LiteLLM proxy config (proxy_config.yaml)")],
                   output: Annotated[Path | None, typer.Option(
                       "--output", "-o", help="Write here (UTF-8) and .env.example beside it, "
                       "instead of printing to stdout")] = None,
                   force: Annotated[bool, typer.Option(
                       help="Overwrite the output and .env.example if they exist")] = False) -> None:
    """Convert a LiteLLM proxy config to ours; report what could not be mapped (stderr)."""
    try:
        data = yaml.safe_load(read_text_file(file))
    except UnicodeDecodeError:
        raise fail(f"{file} is not UTF-8 or UTF-16 text", code="litellm_config_error",
                   fix=NOT_TEXT_FIX) from None
    except OSError as exc:
        raise fail(f"cannot read {file}: {exc.strerror}", code="config_error") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise fail(f"{file} is not valid YAML{where}", code="litellm_config_error") from None
    if not isinstance(data, dict) or not data.get("model_list"):
        raise fail(f"{file} has no model_list: is it a LiteLLM proxy config?",
                   code="litellm_no_models")
    env_path = output.parent / ".env.example" if output is not None else None
    if output is not None and output.exists() and not force:
        raise fail(f"{output} already exists", code="config_error",
                   fix="pass --force to overwrite it, or -o another file")
    result = convert_litellm(data)
    stand_ins = {name: "import-validation-placeholder" for name in result.variables}
    with friendly_errors():   # the output must load; a bug here is a clean config_error
        config_from_dict(result.config, source="imported config", environ=stand_ins)
    text = render_yaml(result.config).replace("written by `provider-fallback init`",
                                              f"imported from {file.name} by `import-litellm`")
    if output is None:
        # nothing else is written: name the file that exists, not one that does not
        print(text.replace(_SEE_EXAMPLE, "(`import-litellm -o FILE` writes a .env.example)"),
              end="")
    else:
        output.write_text(text, encoding="utf-8")
    for note in result.notes:
        err_console.print(f"[yellow]warning[/] {escape(f'[{note.code}]')} "
                          f"{escape(note.where)}: {escape(note.message)}", soft_wrap=True)
    if env_path is not None and result.variables:
        if env_path.exists() and not force:
            err_console.print(f"kept the existing {env_path} (--force replaces it); it should "
                              f"list {', '.join(result.variables)}", markup=False, soft_wrap=True)
        else:
            env_path.write_text(_env_example(output, result.variables), encoding="utf-8")
            err_console.print(f"wrote {env_path}", markup=False)
    if result.variables:
        err_console.print(f"set before serving: {', '.join(result.variables)}", markup=False)
    err_console.print(f"imported {len(result.config['providers'])} providers, "
                      f"{len(result.config['models'])} models; {len(result.notes)} notes"
                      + (f"; wrote {output}" if output is not None else ""), markup=False)


def _env_example(config: Path | None, variables: list[str]) -> str:
    name = config.name if config is not None else "the config"
    lines = [f"# Copy to .env (same folder as {name}) and fill in the values.",
             "# .env holds secrets: keep it out of version control.", ""]
    lines += [f"{v}=" for v in variables]
    return "\n".join(lines) + "\n"
