#!/usr/bin/env bash
# Installs Debian's chromium for the preference-center browser tests when it
# is missing (as root; otherwise it says what to install).
set -euo pipefail
if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "browser.sh: chromium is missing; install Debian's chromium package" >&2
  exit 1
fi
echo "browser.sh: installing Debian's chromium" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq chromium >/dev/null
