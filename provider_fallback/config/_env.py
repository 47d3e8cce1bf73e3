"""Environment references in config values, the `.env` file beside the config, literal secrets.

`os.environ/NAME` (the whole value) and `${NAME}` (anywhere in a string) are resolved from
the process environment first, then from `.env`. Surrounding whitespace in a value (a
trailing newline from `Get-Content -Raw`, a pasted space) is removed with a warning naming
the variable: sent as part of a key it would make every request fail. Literal keys in the
file are refused unless `allow_literal_secrets: true`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import Facts, sh
from ._problems import Problem
from ._text import read_text_file

__all__ = ["WHITESPACE_NOTE", "EnvResolver", "find_literal_secrets", "is_env_reference",
           "is_sensitive_header", "parse_dotenv", "whitespace_variable"]

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_OS_ENVIRON = re.compile(rf"\s*os\.environ/({_NAME})\s*")
_OS_ENVIRON_PREFIX = "os.environ/"
_BRACED = re.compile(rf"\$\{{({_NAME})\}}")
_SECRET_KEYS = frozenset({"api_key", "master_key"})
# Provider key formats (OpenAI/Anthropic/OpenRouter "sk-...", Groq "gsk_...") anywhere in a value,
# e.g. also inside "Bearer sk-...".
_SECRET_SHAPE = re.compile(r"(?:^|[\s:=])(?:sk-|gsk_)[A-Za-z0-9_\-]{16,}")
_LITERAL_KEY_MAX = 20
_SENSITIVE_HEADER = re.compile(r"authorization|cookie|key|token|secret|password", re.I)
# how to set a variable, in the user's shell
_SET_VAR = sh(bash="export {env_var}=...",
              powershell='$env:{env_var} = "..." (or setx {env_var} "..." for new terminals)',
              cmd='set {env_var}=... (or setx {env_var} "..." for new terminals)')
WHITESPACE_NOTE = "had leading/trailing whitespace"
_WHITESPACE_WARNING = re.compile(rf"environment variable ({_NAME}) {WHITESPACE_NOTE}")
_LITERAL_FIX = ("put the key in the environment or the .env file beside the config and write "
                "`{leaf}: os.environ/NAME` (or set allow_literal_secrets: true at the top level)")


def whitespace_variable(warning: str) -> str | None:
    """The variable a "had leading/trailing whitespace" load warning is about, or None."""
    m = _WHITESPACE_WARNING.match(warning)
    return m.group(1) if m else None


def _describe_space(raw: str) -> str:
    around = raw[: len(raw) - len(raw.lstrip())] + raw[len(raw.rstrip()):]
    kinds = [n for c, n in (("\n", "a newline"), ("\r", "a carriage return"), ("\t", "a tab"),
                            (" ", "a space")) if c in around]
    return ", ".join(kinds) or "whitespace"


def is_env_reference(value: str) -> bool:
    """True if `value` pulls anything from the environment."""
    return bool(_OS_ENVIRON.fullmatch(value) or _BRACED.search(value))


def is_sensitive_header(name: str, value: str) -> bool:
    """Header values kept as Secret even when written literally (auth-like names, key shapes)."""
    return bool(_SENSITIVE_HEADER.search(name) or _SECRET_SHAPE.search(value))


def parse_dotenv(text: str) -> dict[str, str]:
    """`KEY=value` lines, optional `export `, quotes, `#` comments. No interpolation."""
    values: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export "):].lstrip()
        name, sep, rest = line.partition("=")
        name = name.strip()
        if not sep or not re.fullmatch(_NAME, name):
            continue
        values[name] = _dotenv_value(rest.strip())
    return values


def _dotenv_value(rest: str) -> str:
    if rest[:1] in ("'", '"'):
        quote = rest[0]
        end = rest.find(quote, 1)
        while quote == '"' and end > 0 and rest[end - 1] == "\\":
            end = rest.find(quote, end + 1)
        if end > 0:
            inner = rest[1:end]
            if quote == '"':
                inner = inner.replace('\\"', '"').replace("\\n", "\n").replace("\\\\", "\\")
            return inner
    comment = re.search(r"\s#", rest)
    return (rest[:comment.start()] if comment else rest).strip()


@dataclass
class EnvResolver:
    """Resolves references in a config tree, recording what it used and what was missing."""

    environ: Mapping[str, str]
    dotenv_path: Path | None = None
    dotenv: Mapping[str, str] = field(default_factory=dict)
    # key path -> the reference text it came from, e.g. "os.environ/GROQ_API_KEY"
    sources: dict[str, str] = field(default_factory=dict)
    # (key path, variable, "is not set" / "is empty")
    missing: list[tuple[str, str, str]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    # one per variable whose value had surrounding whitespace (it is stripped)
    warnings: list[str] = field(default_factory=list)
    stripped: set[str] = field(default_factory=set)

    @classmethod
    def for_dir(cls, environ: Mapping[str, str], base_dir: Path | None) -> EnvResolver:
        """A resolver that also reads `base_dir/.env` when it exists."""
        if base_dir is None:
            return cls(environ)
        path = base_dir / ".env"
        try:
            text = read_text_file(path)
        except FileNotFoundError:
            return cls(environ, path)
        except (OSError, UnicodeDecodeError) as exc:
            resolver = cls(environ, path)
            resolver.problems.append(Problem(None, f"cannot read {path}: {exc}",
                                             "fix or remove the .env file"))
            return resolver
        return cls(environ, path, parse_dotenv(text))

    def lookup(self, name: str) -> str | None:
        if name in self.environ:
            return self.environ[name]
        return self.dotenv.get(name)

    def resolve(self, value: Any, path: str) -> Any:
        """A copy of `value` with every reference in every string replaced."""
        if isinstance(value, dict):
            return {k: self.resolve(v, _join(path, k)) for k, v in value.items()}
        if isinstance(value, list):
            return [self.resolve(v, f"{path}[{i}]") for i, v in enumerate(value)]
        if isinstance(value, str):
            return self._resolve_str(value, path)
        return value

    def _resolve_str(self, value: str, path: str) -> str:
        whole = _OS_ENVIRON.fullmatch(value)
        if whole is None and value.strip().startswith(_OS_ENVIRON_PREFIX):
            self.problems.append(Problem(path, f"'{value.strip()}' is not a valid env reference",
                                         "write os.environ/NAME with NAME made of letters, "
                                         "digits and underscores"))
            return value
        names = [whole.group(1)] if whole else _BRACED.findall(value)
        if not names:
            return value
        self.sources[path] = f"os.environ/{names[0]}" if whole else value
        found = {n: self._stripped(n, path) for n in names}
        missing = [(n, "is not set") for n, v in found.items() if v is None]
        result = _substitute(value, whole, found)
        if not missing and not result and _leaf(path) in _SECRET_KEYS:
            # an empty key is a forgotten key, not "no auth"
            missing = [(n, "is empty") for n in names]
        self.missing.extend((path, name, why) for name, why in missing)
        # keep the reference text so validation does not report the same gap a second time
        return value if missing else result

    def _stripped(self, name: str, path: str) -> str | None:
        raw = self.lookup(name)
        if raw is None:
            return None
        value = raw.strip()
        if value != raw and name not in self.stripped:
            self.stripped.add(name)
            where = "the environment" if name in self.environ else str(self.dotenv_path or ".env")
            self.warnings.append(
                f"environment variable {name} {WHITESPACE_NOTE} ({_describe_space(raw)}, "
                f"in {where}), removed for {path}: fix the value where it is set "
                f"(key_malformed)")
        return value

    def missing_fix(self, name: str, *, optional_hint: bool) -> str:
        text = _SET_VAR.render(Facts(env_var=name))
        if self.dotenv_path is not None:
            text += f" or add it to {self.dotenv_path}"
        if optional_hint:
            text += ", or set optional: true on this provider to skip it when the key is absent"
        return text


def _substitute(value: str, whole: re.Match[str] | None, found: Mapping[str, str | None]) -> str:
    if whole is not None:
        return found[whole.group(1)] or ""
    return _BRACED.sub(lambda m: found[m.group(1)] or "", value)


def find_literal_secrets(data: Any, path: str = "") -> list[Problem]:
    """Key-shaped literals in the raw file: `sk-...`/`gsk_...` anywhere, long api_key/master_key."""
    if isinstance(data, dict):
        return [p for k, v in data.items() for p in find_literal_secrets(v, _join(path, k))]
    if isinstance(data, list):
        return [p for i, v in enumerate(data) for p in find_literal_secrets(v, f"{path}[{i}]")]
    if not isinstance(data, str) or is_env_reference(data):
        return []
    leaf = _leaf(path)
    long_key = leaf in _SECRET_KEYS and len(data.strip()) > _LITERAL_KEY_MAX
    if long_key or _SECRET_SHAPE.search(data):
        # never echo the value: it is (probably) a real key
        return [Problem(path, "looks like a literal secret written in the config file",
                        _LITERAL_FIX.format(leaf=leaf))]
    return []


def _join(path: str, key: object) -> str:
    return f"{path}.{key}" if path else str(key)


def _leaf(path: str) -> str:
    """The key a path ends in, without a list index: `providers[0].api_key[1]` -> api_key."""
    return re.sub(r"\[\d+\]$", "", path.rsplit(".", 1)[-1])
