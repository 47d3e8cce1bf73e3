"""Resolution steps as templates, rendered with the facts of a finding in the user's shell.

A step is text with `{placeholders}` (`{host}`, `{port}`, `{env_var}`, `{config}`, ...);
where shells differ it carries one template per shell (PowerShell, cmd, bash/zsh). A plain
string is a step without placeholders that reads the same everywhere, so registry rows
written as plain text keep working. An empty template means "does not apply in this
shell" (e.g. `ipconfig /flushdns` has no bash form) and the step is left out there.

    step = sh(bash='curl {base_url}/models -H "Authorization: Bearer ${env_var}"',
              powershell='Invoke-RestMethod {base_url}/models -Headers @{ Authorization = '
                         '"Bearer $env:{env_var}" }')
    render_steps([step], Facts(base_url="http://127.0.0.1:4000/v1", env_var="LITELLM_KEY"),
                 Shell.POWERSHELL)

Only names in `PLACEHOLDERS` are replaced, so JSON or PowerShell braces in a step
(`{"model": ...}`, `@{ Authorization = ... }`) need no escaping. A value nobody knows
renders as a visible stand-in (`<host>`), never as the raw `{host}`.
"""

from __future__ import annotations

import enum
import functools
import os
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from urllib.parse import urlsplit

__all__ = ["PLACEHOLDERS", "Facts", "Shell", "Step", "render_steps", "sh", "template_names"]

SHELL_ENV = "PROVIDER_FALLBACK_SHELL"

# placeholder -> what the user sees when the value is not known
PLACEHOLDERS: Mapping[str, str] = {
    "provider": "<provider>",
    "model": "<model>",
    "base_url": "<base_url>",             # the provider's base_url, e.g. https://api.groq.com/openai/v1
    "origin": "<provider URL>",           # scheme://host:port of base_url
    "host": "<host>",                     # the host the finding is about
    "port": "<port>",                     # the port the finding is about
    "next_port": "<another port>",        # a port to suggest instead of `port`
    "env_var": "<VARIABLE>",              # the environment variable involved (a key, a missing one)
    "config": "provider_config.yaml",     # the gateway's config file (every command's default)
    "env_file": ".env",                   # the .env file beside the config
    "gateway_url": "http://127.0.0.1:4100",
    "pid": "<PID>",                       # the process holding a port
    "litellm_config": "<LiteLLM config.yaml>",
    # the shell's own "send the key" arguments for `env_var`; empty for a provider known to
    # have no key (`-H "Authorization: Bearer $NAME"`, `-Headers @{ ... $env:NAME }`, `%NAME%`)
    "bearer": "",
}
_TOKEN = re.compile(r"\{([a-z_]+)\}")
_LITELLM_DEFAULT_PORT = 4000


class Shell(enum.StrEnum):
    """Where the user pastes the step. zsh and sh read bash's commands."""

    POWERSHELL = "powershell"
    CMD = "cmd"
    BASH = "bash"

    @classmethod
    def parse(cls, name: str) -> Shell:
        """'powershell', 'pwsh', 'ps', 'cmd', 'bash', 'zsh', 'sh' (any case)."""
        key = name.strip().lower()
        aliases = {"pwsh": "powershell", "ps": "powershell", "powershell.exe": "powershell",
                   "cmd.exe": "cmd", "zsh": "bash", "sh": "bash", "fish": "bash"}
        try:
            return cls(aliases.get(key, key))
        except ValueError:
            raise ValueError(f"unknown shell {name!r}: use powershell, cmd or bash") from None

    @classmethod
    def default(cls) -> Shell:
        """$PROVIDER_FALLBACK_SHELL, else PowerShell on Windows and bash elsewhere."""
        chosen = os.environ.get(SHELL_ENV)
        if chosen:
            try:
                return cls.parse(chosen)
            except ValueError:
                pass
        return cls.POWERSHELL if sys.platform == "win32" else cls.BASH


@dataclass(frozen=True, slots=True)
class Facts:
    """What is known about the thing a step is about. Unknown fields stay None."""

    provider: str | None = None
    model: str | None = None
    base_url: str | None = None
    origin: str | None = None
    host: str | None = None
    port: str | None = None
    next_port: str | None = None
    env_var: str | None = None
    config: str | None = None
    env_file: str | None = None
    gateway_url: str | None = None
    pid: str | None = None
    litellm_config: str | None = None

    @classmethod
    def of(cls, **values: object) -> Facts:
        """Facts from keyword values (None skipped, everything else as text); a `base_url`
        also gives `origin`, `host` and `port` unless they are given."""
        text = {k: str(v) for k, v in values.items() if v is not None and v != ""}
        base = text.get("base_url")
        if base:
            parts = urlsplit(base)
            port = parts.port or (443 if parts.scheme == "https" else 80)
            text.setdefault("host", parts.hostname or "")
            text.setdefault("port", str(port))
            text.setdefault("origin", f"{parts.scheme}://{parts.netloc}")
            text["base_url"] = base.rstrip("/")
        return cls(**text)

    def merge(self, fallback: Facts | None) -> Facts:
        """These facts, with the gaps filled from `fallback`."""
        if fallback is None or fallback is self:
            return self
        return _merged(self, fallback)

    def values(self, shell: Shell) -> dict[str, str]:
        """Every placeholder's text: the known value, else the visible stand-in."""
        out = {name: getattr(self, name, None) or shown for name, shown in PLACEHOLDERS.items()}
        if self.next_port is None and self.port is not None and self.port.isdigit():
            out["next_port"] = str(_next_port(int(self.port)))
        keyless = self.env_var is None and self.provider is not None and self.base_url is not None
        out["bearer"] = "" if keyless else _BEARER[shell].format(out["env_var"])
        return out


_BEARER = {
    Shell.BASH: ' -H "Authorization: Bearer ${}"',
    Shell.POWERSHELL: ' -Headers @{{ Authorization = "Bearer $env:{}" }}',
    Shell.CMD: ' -H "Authorization: Bearer %{}%"',
}


_FIELDS = tuple(f.name for f in fields(Facts))


@functools.lru_cache(maxsize=1024)   # error paths merge the same few facts over and over
def _merged(mine: Facts, fallback: Facts) -> Facts:
    return Facts(*[value if (value := getattr(mine, name)) is not None
                   else getattr(fallback, name) for name in _FIELDS])


def _next_port(port: int) -> int:
    nxt = port + 1 if port < 65535 else 1025
    return nxt + 1 if nxt == _LITELLM_DEFAULT_PORT else nxt


@dataclass(frozen=True, slots=True)
class Step:
    """One resolution step: `text` for every shell unless a shell has its own template."""

    text: str
    powershell: str | None = None
    cmd: str | None = None
    bash: str | None = None

    def template(self, shell: Shell) -> str:
        own = {Shell.POWERSHELL: self.powershell, Shell.CMD: self.cmd,
               Shell.BASH: self.bash}[shell]
        return self.text if own is None else own

    def templates(self) -> tuple[str, ...]:
        return tuple(t for t in (self.text, self.powershell, self.cmd, self.bash) if t)

    def render(self, facts: Facts | None = None, shell: Shell | None = None) -> str:
        """The step for `shell` (default: this machine's) with the facts filled in; ''
        when the step does not apply in that shell."""
        shell = shell or Shell.default()
        return _fill(self.template(shell), facts or Facts(), shell)

    def __str__(self) -> str:
        return self.render()


def sh(text: str | None = None, *, bash: str | None = None, powershell: str | None = None,
       cmd: str | None = None, windows: str | None = None) -> Step:
    """A step with per-shell templates: `windows` sets PowerShell and cmd at once; `text`
    (default: the bash template) is what any other shell gets."""
    return Step(text if text is not None else (bash or windows or ""),
                powershell=powershell if powershell is not None else windows,
                cmd=cmd if cmd is not None else windows, bash=bash)


@functools.lru_cache(maxsize=2048)
def _fill(template: str, facts: Facts, shell: Shell) -> str:
    if "{" not in template:
        return template
    values = facts.values(shell)
    return _TOKEN.sub(lambda m: values.get(m.group(1), m.group(0)), template)


def render_steps(steps: Iterable[Step | str], facts: Facts | None = None,
                 shell: Shell | None = None) -> tuple[str, ...]:
    """Every step rendered for `shell` with `facts`; steps that do not apply are left out
    and repeats are dropped."""
    steps = tuple(steps)
    try:
        return _render(steps, facts or _NO_FACTS, shell or Shell.default())
    except TypeError:      # an unhashable step (never a registry row): no cache
        return _render.__wrapped__(steps, facts or _NO_FACTS, shell or Shell.default())


@functools.lru_cache(maxsize=1024)
def _render(steps: tuple[Step | str, ...], facts: Facts, shell: Shell) -> tuple[str, ...]:
    out: list[str] = []
    for step in steps:
        text = step.render(facts, shell) if isinstance(step, Step) else _fill(step, facts, shell)
        if text and text not in out:
            out.append(text)
    return tuple(out)


def template_names(step: Step | str) -> set[str]:
    """Every `{name}` token in the step's templates (known placeholder or not)."""
    texts = step.templates() if isinstance(step, Step) else (step,)
    return {m.group(1) for t in texts for m in _TOKEN.finditer(t)}


_NO_FACTS = Facts()
