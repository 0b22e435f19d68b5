#!/usr/bin/env bash
# Installs what the forensics rendering tests need: Debian's `chromium` package (with apt, when
# run as root and it is missing, as `make up` does for PostgreSQL) and the `mermaid` npm
# package, pinned, into .devstack/run/mermaid. `make test` runs it.
# The tests load its browser bundle from that local file into headless chromium and call
# mermaid.parse; nothing is fetched at test time. Idempotent; safe to run on every CI start.
set -euo pipefail
cd "$(dirname "$0")/../../.."
MERMAID_VERSION=11.12.0
target=.devstack/run/mermaid
bundle=$target/node_modules/mermaid/dist/mermaid.min.js
if ! command -v chromium >/dev/null; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "install_browser_check: chromium is missing; run: sudo apt-get install -y chromium" >&2
    exit 1
  fi
  echo "install_browser_check: installing Debian's chromium (first run only)" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q chromium >/dev/null
fi
if [ -f "$bundle" ] && grep -q "\"version\": \"$MERMAID_VERSION\"" "$target/node_modules/mermaid/package.json"; then
  exit 0
fi
mkdir -p "$target"
# --ignore-scripts: no package may download a browser (or anything else) on install.
npm install --silent --no-audit --no-fund --ignore-scripts --prefix "$target" "mermaid@$MERMAID_VERSION"
test -f "$bundle"
