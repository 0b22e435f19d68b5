#!/usr/bin/env bash
# Installs what the forensics rendering tests need beside Debian's `chromium` package (which
# .ci/run installs with apt): the `mermaid` npm package, pinned, into .devstack/run/mermaid.
# The tests load its browser bundle from that local file into headless chromium and call
# mermaid.parse; nothing is fetched at test time. Idempotent; safe to run on every CI start.
set -euo pipefail
cd "$(dirname "$0")/../../.."
MERMAID_VERSION=11.12.0
target=.devstack/run/mermaid
bundle=$target/node_modules/mermaid/dist/mermaid.min.js
if [ -f "$bundle" ] && grep -q "\"version\": \"$MERMAID_VERSION\"" "$target/node_modules/mermaid/package.json"; then
  exit 0
fi
mkdir -p "$target"
# --ignore-scripts: no package may download a browser (or anything else) on install.
npm install --silent --no-audit --no-fund --ignore-scripts --prefix "$target" "mermaid@$MERMAID_VERSION"
test -f "$bundle"
command -v chromium >/dev/null || echo "install_browser_check: chromium is missing (apt-get install -y chromium)" >&2
