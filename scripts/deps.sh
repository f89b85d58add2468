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

# playwright-core needs Node 20 or later; Debian 12's nodejs is 18. Where
# the node on PATH is older, a Node 20 binary comes from npm's
# node-linux-ARCH package into web/.node; the browser tests run that one.
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 20 ] && [ ! -x web/.node/bin/node ]; then
  case "$(uname -m)" in
    x86_64) arch=x64 ;;
    aarch64) arch=arm64 ;;
    *) echo "node $(node -v 2>/dev/null) is older than 20 and no Node 20 package is known for $(uname -m)" >&2; exit 1 ;;
  esac
  echo "node is older than 20: installing node-linux-$arch@20 into web/.node" >&2
  npm install --prefix web/.node --no-save --no-audit --no-fund --loglevel=error "node-linux-$arch@20"
  mkdir -p web/.node/bin
  ln -sf "../node_modules/node-linux-$arch/bin/node" web/.node/bin/node
fi
[ -x web/.node/bin/node ] && export PATH="$PWD/web/.node/bin:$PATH"

# npm ci installs exactly what web/package-lock.json pins; skipped when
# node_modules was installed from this very lock file.
lock_sum=$(sha256sum web/package-lock.json | cut -d' ' -f1)
if [ "$(cat web/node_modules/.tsstream-lock-sha256 2>/dev/null)" != "$lock_sum" ]; then
  echo "installing web/ npm packages (npm ci)" >&2
  (cd web && npm ci --no-audit --no-fund --loglevel=error)
  echo "$lock_sum" > web/node_modules/.tsstream-lock-sha256
fi
