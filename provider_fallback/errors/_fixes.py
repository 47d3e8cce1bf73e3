"""Resolution steps several registry rows share, one template per shell where shells differ.

Placeholders are those of `_steps.PLACEHOLDERS`. PowerShell templates work in Windows
PowerShell 5.1 and PowerShell 7 (`Invoke-RestMethod`, `$env:NAME`, `Get-NetTCPConnection`);
cmd templates use the `curl.exe` Windows 10+ ships; bash templates also read right in zsh.
"""

from __future__ import annotations

from ._steps import sh

__all__ = [
    "CHECK_KEY", "CHECK_STATUS", "CONNECTIVITY", "DOCTOR", "EXCLUDED_PORTS", "FIREWALL_RULE",
    "FLUSH_DNS", "LIST_MODELS", "LOW_PORT", "LOOKUP", "NO_PROXY", "PORT_OWNER", "PROXY_BYPASS",
    "RESERVE_PORT", "SET_VAR", "TEST_KEY", "TRACE", "UNSET_PROXY", "WAIT_RESET", "WHO_LISTENS",
]

WAIT_RESET = ("Wait for the advertised Retry-After / x-ratelimit-reset-* time; the gateway "
              "falls over meanwhile")
CHECK_STATUS = ("Check the provider status page (status.groq.com, status.openrouter.ai, "
                "status.openai.com)")
CHECK_KEY = ("Check {env_var} holds {provider}'s key, with no spaces, quotes or newlines "
             "(`provider-fallback doctor --config {config}` shows its length and first characters)")
DOCTOR = ("Run `provider-fallback doctor --config {config}` and check "
          "{gateway_url}/health/providers")

TEST_KEY = sh(
    bash='Test the key: `curl {base_url}/models -H "Authorization: Bearer ${env_var}"`',
    powershell='Test the key: `Invoke-RestMethod {base_url}/models -Headers '
               '@{ Authorization = "Bearer $env:{env_var}" }`',
    cmd='Test the key: `curl {base_url}/models -H "Authorization: Bearer %{env_var}%"`')
LIST_MODELS = sh(
    bash="List the models the key can use: `curl -s {base_url}/models{bearer}`",
    powershell="List the models the key can use: `(Invoke-RestMethod {base_url}/models{bearer}).data.id`",
    cmd="List the models the key can use: `curl -s {base_url}/models{bearer}`")
SET_VAR = sh(
    bash="Set it: `export {env_var}=...` (add the line to ~/.bashrc or ~/.zshrc to keep it)",
    powershell='Set it: `$env:{env_var} = "..."` for this window, or `setx {env_var} "..."` '
               "and open a new terminal",
    cmd='Set it: `set {env_var}=...` for this window, or `setx {env_var} "..."` and open a '
        "new terminal")
WHO_LISTENS = sh(
    bash="See what listens on port {port}: `lsof -nP -iTCP:{port} -sTCP:LISTEN` "
         "(Linux: `ss -ltnp 'sport = :{port}'`)",
    powershell="See what listens on port {port}: `Get-NetTCPConnection -LocalPort {port} "
               "-State Listen`",
    cmd="See what listens on port {port}: `netstat -ano | findstr :{port}`")
PORT_OWNER = sh(
    bash="Find the owner: `lsof -nP -iTCP:{port} -sTCP:LISTEN`, then `kill {pid}`",
    powershell="Find the owner: `Get-NetTCPConnection -LocalPort {port} -State Listen | "
               "Select-Object OwningProcess`, then `Stop-Process -Id {pid}`",
    cmd="Find the owner: `netstat -ano | findstr :{port}`, then `taskkill /PID {pid} /F`")
CONNECTIVITY = sh(
    bash="Check connectivity: `curl -I --connect-timeout 5 {origin}`",
    powershell="Check connectivity: `Test-NetConnection {host} -Port {port}`",
    cmd="Check connectivity: `curl -I --connect-timeout 5 {origin}`")
LOOKUP = sh(
    bash="Look the name up: `nslookup {host}`; try DNS 1.1.1.1 or 8.8.8.8",
    powershell="Look the name up: `Resolve-DnsName {host}`; try DNS 1.1.1.1 or 8.8.8.8",
    cmd="Look the name up: `nslookup {host}`; try DNS 1.1.1.1 or 8.8.8.8")
FLUSH_DNS = sh(
    bash="Flush the DNS cache: `sudo resolvectl flush-caches` (Linux) or "
         "`sudo dscacheutil -flushcache; sudo killall -HUP mDNSResponder` (macOS)",
    windows="Flush the DNS cache: `ipconfig /flushdns`")
TRACE = sh(bash="Trace the route: `traceroute {host}`",
           windows="Trace the route: `tracert {host}`")
NO_PROXY = sh(
    bash="Keep local traffic off the proxy: `export NO_PROXY=localhost,127.0.0.1,::1`",
    powershell='Keep local traffic off the proxy: `$env:NO_PROXY = "localhost,127.0.0.1,::1"` '
               "(this window) or `setx NO_PROXY localhost,127.0.0.1,::1` (new terminals)",
    cmd="Keep local traffic off the proxy: `set NO_PROXY=localhost,127.0.0.1,::1` (this window) "
        "or `setx NO_PROXY localhost,127.0.0.1,::1` (new terminals)")
UNSET_PROXY = sh(
    bash="Or, if no proxy is needed: `unset HTTP_PROXY HTTPS_PROXY`",
    powershell="Or, if no proxy is needed: `Remove-Item Env:HTTP_PROXY, Env:HTTPS_PROXY`",
    cmd="Or, if no proxy is needed: `set HTTP_PROXY=` and `set HTTPS_PROXY=`")
PROXY_BYPASS = sh(bash="", windows="Check the proxy bypass list in Windows Settings > "
                                   "Network & internet > Proxy")
EXCLUDED_PORTS = sh(
    bash="",
    windows="See the ports Windows reserves (Hyper-V, WinNAT, WSL2): "
            "`netsh int ipv4 show excludedportrange protocol=tcp`; "
            "`provider-fallback doctor` says whether port {port} is in one")
LOW_PORT = sh(bash="Binding a port below 1024 needs root: use a port above 1024 "
                   "(`--port {next_port}`)", windows="")
RESERVE_PORT = sh(
    bash="",
    windows="Keep port {port} for yourself (as administrator, before WinNAT takes it): "
            "`net stop winnat`, `netsh int ipv4 add excludedportrange protocol=tcp "
            "startport={port} numberofports=1`, `net start winnat`; or pick port {next_port}")
FIREWALL_RULE = sh(
    bash="Check the firewall: `sudo ufw status` (Linux) or System Settings > Network > "
         "Firewall (macOS)",
    powershell="Allow inbound connections to port {port} (as administrator): "
               '`New-NetFirewallRule -DisplayName "provider-fallback {port}" -Direction Inbound '
               "-Protocol TCP -LocalPort {port} -Action Allow -Profile Private`",
    cmd="Allow inbound connections to port {port} (as administrator): "
        '`netsh advfirewall firewall add rule name="provider-fallback {port}" dir=in '
        "action=allow protocol=TCP localport={port}`")
