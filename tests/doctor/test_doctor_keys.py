"""Key checks (no network): whitespace, quotes, wrong prefix; values never shown in full."""

from __future__ import annotations

import json

from provider_fallback import config_from_dict
from provider_fallback.doctor import (
    Finding,
    Report,
    Severity,
    check_keys,
    mask_key,
    startup_findings,
)


def _config(key: str, base_url: str = "https://api.groq.com/openai/v1"):
    return config_from_dict({"providers": [{"name": "groq", "base_url": base_url,
                                            "api_key": "os.environ/GROQ_API_KEY"}],
                             "models": {"m": ["groq/llama-3.1-8b-instant"]}},
                            environ={"GROQ_API_KEY": key})


def _codes(findings):
    return [(f.code, f.severity) for f in findings]


def test_good_key_passes():
    assert _codes(check_keys(_config("gsk_" + "a" * 40))) == [(None, Severity.OK)]


def test_whitespace_quotes_and_prefix_are_flagged_masked():
    secret = "gsk_" + "Z" * 40
    # the newline is stripped at load (with a warning): doctor shows the key as it is used
    for value, word, used in ((secret + "\n", "whitespace", secret),
                              (f'"{secret}"', "quotes", f'"{secret}"')):
        findings = check_keys(_config(value))
        assert any(word in f.message and f.code == "key_malformed" for f in findings)
        assert all("Z" * 5 not in json.dumps(f.as_dict()) for f in findings)
        assert all(f"{len(used)} chars" in f.message for f in findings)


def test_openrouter_key_on_groq_is_named():
    [f] = check_keys(_config("sk-or-v1-" + "q" * 40))
    assert f.code == "key_malformed" and "'gsk_'" in f.message and "OpenRouter" in f.message
    assert "q" * 5 not in f.message


def test_unknown_hosts_get_no_prefix_check():
    assert _codes(check_keys(_config("anything-goes-123456", "http://127.0.0.1:4000/v1"))) == \
        [(None, Severity.OK)]


def test_mask_key():
    assert mask_key("gsk_abcdefghijklmnop") == "20 chars, starts 'gsk_'"
    assert mask_key("short") == "5 chars"


def test_report_exit_codes_and_codes_required():
    ok = Finding("x", "y", Severity.OK, "fine")
    warn = Finding("x", "y", Severity.WARNING, "hm", "slow_provider")
    err = Finding("x", "y", Severity.ERROR, "bad", "config_error")
    assert Report.of([ok]).exit_code == 0
    assert Report.of([ok, Finding("x", "y", Severity.INFO, "skipped")]).exit_code == 0
    assert Report.of([ok, warn]).exit_code == 1
    assert Report.of([warn, err]).exit_code == 2
    try:
        Finding("x", "y", Severity.ERROR, "no code")
    except ValueError:
        pass
    else:
        raise AssertionError("an error finding without a registry code must be refused")


def test_startup_findings_are_fast_subset(monkeypatch):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    assert startup_findings(_config("gsk_" + "a" * 40)) == []
    [f] = startup_findings(_config(" gsk_" + "a" * 40))
    assert f.code == "key_malformed"
