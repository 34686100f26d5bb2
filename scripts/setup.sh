#!/usr/bin/env bash
# Install what toolfoundry needs on a Debian machine: bubblewrap (the sandbox), Debian's python3 with
# pytest (the interpreter inside the sandbox), git, chromium (browser tests of the review UI),
# PostgreSQL (the tests start throwaway servers of their own; a cluster's database), and the Python
# package itself with its dev tools and the UI extra.
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
command -v bwrap >/dev/null 2>&1 || need+=(bubblewrap)
command -v git >/dev/null 2>&1 || need+=(git)
[ -x /usr/bin/python3 ] || need+=(python3)
[ -d /usr/lib/python3/dist-packages/pytest ] || need+=(python3-pytest)
ldconfig -p 2>/dev/null | grep -q 'libseccomp\.so\.2' || need+=(libseccomp2)  # the sandbox's seccomp filter
command -v ssh-keygen >/dev/null 2>&1 || need+=(openssh-client)  # signed approvals, provenance records
if [ "${TOOLFOUNDRY_SETUP_BROWSER:-1}" = 1 ]; then
  command -v chromium >/dev/null 2>&1 || need+=(chromium)  # the browser tests of the review UI
fi
if [ "${TOOLFOUNDRY_SETUP_POSTGRES:-1}" = 1 ]; then
  compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || need+=(postgresql)  # the cluster and store tests
fi
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    echo "setup: installing Debian packages: ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "setup: please install these Debian packages first: sudo apt-get install -y ${need[*]}" >&2
    exit 2
  fi
fi
PY="${PYTHON:-python3}"
if ! "$PY" -c "import toolfoundry, pytest, xdist, mypy, fastapi, playwright" >/dev/null 2>&1 || [ "${TOOLFOUNDRY_REINSTALL:-}" = 1 ]; then
  echo "setup: pip install -e '.[dev,ui]'"
  "$PY" -m pip install -q --disable-pip-version-check --root-user-action=ignore -e '.[dev,ui]'
fi
