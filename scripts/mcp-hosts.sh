#!/usr/bin/env bash
# Install the MCP clients that tests/surfaces/test_mcp_hosts.py drives (the TypeScript SDK v1 and v2, the MCP
# Inspector) into DIR, with the Node 22 the Inspector 2.x needs, and print the two lines that point the tests
# at them:
#
#   eval "$(bash scripts/mcp-hosts.sh /tmp/mcp-hosts)"   # then: python3 -m pytest tests/surfaces/test_mcp_hosts.py
#
# Versions are pinned: the packages and every dependency by tests/surfaces/hosts/package-lock.json (`npm ci`),
# Node by NODE_VERSION (the npm package node-<os>-<arch>, which ships the binary). npm comes from PATH, or from
# Debian (apt-get install nodejs npm, as root) when there is none; Debian's Node 18 only runs npm, the tests run
# on the Node 22 installed here. A DIR that already holds these versions is reused. npm's output goes to
# stderr; stdout carries only the export lines.
set -euo pipefail
NODE_VERSION=22.23.5
if [ $# -ne 1 ] || [ -z "$1" ]; then
  echo "usage: $0 DIR   (installs the MCP host clients into DIR and prints two export lines)" >&2
  exit 2
fi
here="$(cd "$(dirname "$0")/.." && pwd)/tests/surfaces/hosts"
mkdir -p "$1"
dir="$(cd "$1" && pwd)"
case "$(uname -m)" in
  x86_64) arch=x64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) echo "mcp-hosts: no Node ${NODE_VERSION} package for $(uname -m)" >&2; exit 2 ;;
esac
node_pkg="node-linux-${arch}"
node_bin="$dir/node22/node_modules/$node_pkg/bin/node"

if ! command -v npm >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "mcp-hosts: npm is missing; install it first: sudo apt-get install -y nodejs npm" >&2
    exit 2
  fi
  echo "mcp-hosts: installing Debian's nodejs and npm" >&2
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >&2
fi

npm_quiet=(--no-fund --no-audit --no-update-notifier --loglevel=error)
if ! cmp -s "$here/package-lock.json" "$dir/package-lock.json" || [ ! -d "$dir/node_modules/@modelcontextprotocol/inspector" ]; then
  cp "$here/package.json" "$here/package-lock.json" "$dir/"
  # --ignore-scripts: the Inspector's postinstall only sets up its own source checkout; nothing else has one
  (cd "$dir" && npm ci --ignore-scripts "${npm_quiet[@]}") >&2
fi
if [ ! -x "$node_bin" ] || [ "$("$node_bin" --version)" != "v${NODE_VERSION}" ]; then
  mkdir -p "$dir/node22"
  (cd "$dir/node22" && npm install --prefix . --no-save --ignore-scripts "${npm_quiet[@]}" \
    "${node_pkg}@${NODE_VERSION}") >&2
fi
"$node_bin" --version >/dev/null  # fails here, not in the tests, if the binary cannot run on this machine

printf 'export MCP_HOSTS_NODE_MODULES=%q\n' "$dir/node_modules"
printf 'export MCP_HOSTS_NODE=%q\n' "$node_bin"
