#!/usr/bin/env bash
# The test command of the README, and what CI runs: installs what the tests need on a fresh
# machine, then type-checks, lints and runs every test against real servers.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
# The OCR accuracy tests render text with DejaVu fonts.
[ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need_apt+=(fonts-dejavu-core)
# The monitoring test runs its own prometheus (and promtool) on a free port; the service the
# package may start on :9090 is not used.
command -v prometheus >/dev/null 2>&1 || need_apt+=(prometheus)
if ((${#need_apt[@]})); then
  echo "ci: installing ${need_apt[*]} from Debian"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

echo "ci: npm ci"
npm ci --no-audit --no-fund --loglevel=error
echo "ci: npm run check"
npm run check --silent
echo "ci: npm test"
npm test
