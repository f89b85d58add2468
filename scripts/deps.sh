#!/usr/bin/env bash
# Installs what the test suite needs when it is missing: Go modules, and
# ffmpeg/ffprobe (Debian packages) for the end-to-end tests.
set -euo pipefail
cd "$(dirname "$0")/.."

go mod download

missing=()
command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null || missing+=(ffmpeg)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]}" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
