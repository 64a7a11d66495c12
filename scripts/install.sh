#!/usr/bin/env bash
# Idempotent set-up for a fresh Debian machine: apt packages, a .venv, the project (editable, with dev tools).
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
APT_PACKAGES=(pcscd vsmartcard-vpcd libpcsclite-dev swig pkg-config gcc fonts-ipamj-mincho fonts-ipaexfont
              poppler-utils zbar-tools libzbar0
              cups cups-client cups-filters printer-driver-cups-pdf ghostscript libcups2-dev
              chromium fonts-noto-cjk fonts-noto-core haproxy
              opensc opensc-pkcs11)  # OpenSC: a JPKI client nobody here wrote, for the card tests
command -v npm >/dev/null || APT_PACKAGES+=(npm)  # a machine whose Node.js came with its own npm keeps it
# Debian's own python3 needs these to make a venv and build pyscard; a python3 of its own (pyenv) has them.
$PY -c "import ensurepip" 2>/dev/null || APT_PACKAGES+=(python3-venv)
$PY -c "import sysconfig, os, sys; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()['include'], 'Python.h')))" \
  || APT_PACKAGES+=(python3-dev)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install: apt packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  echo "install: creating .venv with $($PY --version)"
  $PY -m venv .venv
fi
stamp=.venv/.konbini-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ requirements.lock -nt "$stamp" ]; then
  echo "install: Python packages from requirements.lock (exact versions, hashes checked) and the project"
  mkdir -p var
  if ! { .venv/bin/pip install --upgrade pip && .venv/bin/pip install --require-hashes -r requirements.lock \
         && .venv/bin/pip install --no-deps -e .; } > var/install.log 2>&1; then
    tail -40 var/install.log
    echo "install: pip failed; the whole log is in var/install.log" >&2
    exit 1
  fi
  touch "$stamp"
fi
# axe-core (accessibility checks injected into the touchscreen page by the tests), pinned, from npm.
AXE=.cache/npm/node_modules/axe-core/axe.min.js
if [ ! -f "$AXE" ]; then
  echo "install: axe-core from npm"
  mkdir -p .cache/npm
  (cd .cache/npm && npm install --silent --no-audit --no-fund --no-save axe-core@4.14.0) > var/npm.log 2>&1 \
    || { cat var/npm.log; echo "install: npm failed; see var/npm.log" >&2; exit 1; }
fi
echo "install: ready"
