#!/usr/bin/env bash
# Installs what the test suite needs when it is missing: Go modules,
# ffmpeg/ffprobe and chromium (Debian packages) for the end-to-end and
# browser tests, and the npm packages of web/ (npm ci: playwright-core, and
# the player libraries the embedded copies are checked against).
set -euo pipefail
cd "$(dirname "$0")/.."

go mod download

missing=()
command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null || missing+=(ffmpeg)
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v npm >/dev/null || missing+=(nodejs npm)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]}" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# npm ci installs exactly what web/package-lock.json pins; skipped when
# node_modules was installed from this very lock file.
lock_sum=$(sha256sum web/package-lock.json | cut -d' ' -f1)
if [ "$(cat web/node_modules/.tsstream-lock-sha256 2>/dev/null)" != "$lock_sum" ]; then
  echo "installing web/ npm packages (npm ci)" >&2
  (cd web && npm ci --no-audit --no-fund --loglevel=error)
  echo "$lock_sum" > web/node_modules/.tsstream-lock-sha256
fi
