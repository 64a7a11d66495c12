#!/usr/bin/env bash
# Idempotent set-up for a fresh Debian machine: apt packages, a .venv, the project (editable, with dev tools).
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
APT_PACKAGES=(pcscd vsmartcard-vpcd libpcsclite-dev swig pkg-config gcc fonts-ipamj-mincho fonts-ipaexfont
              poppler-utils zbar-tools libzbar0
              cups cups-client cups-filters printer-driver-cups-pdf ghostscript libcups2-dev
              chromium fonts-noto-cjk fonts-noto-core haproxy
              opensc opensc-pkcs11  # OpenSC: a JPKI client nobody here wrote, for the card tests
              postgresql  # Debian 12's PostgreSQL 15: the tests start throwaway clusters of their own (initdb)
              systemd  # systemd-analyze verify: the deployment's units are checked (PID 1 here is not systemd)
              faketime  # libfaketime: the clock-step tests step the wall clock of a server and a kiosk app
              procps)  # pgrep, pkill: restarting pcscd when the test readers change
command -v npm >/dev/null || APT_PACKAGES+=(npm)  # a machine whose Node.js came with its own npm keeps it
# Debian's own python3 needs these to make a venv and build pyscard; a python3 of its own (pyenv) has them.
$PY -c "import ensurepip" 2>/dev/null || APT_PACKAGES+=(python3-venv)
$PY -c "import sysconfig, os, sys; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()['include'], 'Python.h')))" \
  || APT_PACKAGES+=(python3-dev)

# Debian's postgresql creates a cluster 'main' (port 5432) on its first install, and starts it where services
# may start: the project never uses it (tests/postgres_cluster.py runs initdb and pg_ctl itself, on free
# ports), so none is made. Written before the install; postgresql-common's createcluster.conf reads the folder.
PG_NO_MAIN=/etc/postgresql-common/createcluster.d/konbini-no-main-cluster.conf
PG_NO_MAIN_TEXT="create_main_cluster = false  # konbini: scripts/install.sh (the tests make their own clusters)"
if [ "$(cat "$PG_NO_MAIN" 2>/dev/null)" != "$PG_NO_MAIN_TEXT" ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO mkdir -p "$(dirname "$PG_NO_MAIN")"
  echo "$PG_NO_MAIN_TEXT" | $SUDO tee "$PG_NO_MAIN" >/dev/null
fi

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

# The PostgreSQL binaries the tests run (initdb, pg_ctl, postgres): found as tests/postgres_cluster.py finds them.
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 \
  || { echo "install: no /usr/lib/postgresql/*/bin/initdb after installing postgresql" >&2; exit 1; }

# The vpcd readers' ports (the demo's 35963-35964 and the pool's) are taken from Linux's ephemeral range:
# an outgoing connection or a bind to port 0 that holds one when pcscd starts makes that reader vanish.
# Reserve them now, before pcscd is (re)started below, and at every boot (/etc/sysctl.d); per network
# namespace: a container whose /proc/sys is read-only keeps the risk, and says so.
RESERVED=/proc/sys/net/ipv4/ip_local_reserved_ports
VPCD_PORTS=35963-35976
SYSCTL_CONF=/etc/sysctl.d/60-konbini-vpcd-ports.conf
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
current=$(cat "$RESERVED" 2>/dev/null || true)
if ! printf '%s\n' "${current//,/$'\n'}" | grep -qx "$VPCD_PORTS"; then
  if echo "${current:+$current,}$VPCD_PORTS" | $SUDO tee "$RESERVED" >/dev/null 2>&1; then
    echo "install: reserved the card readers' ports $VPCD_PORTS ($RESERVED)"
  else
    echo "install: warning: could not reserve ports $VPCD_PORTS in $RESERVED; a reader may go missing" >&2
  fi
fi
if [ -d /etc/sysctl.d ] && ! grep -qs "$VPCD_PORTS" "$SYSCTL_CONF"; then
  printf '# konbini: the vpcd card readers (scripts/install.sh)\nnet.ipv4.ip_local_reserved_ports = %s\n' \
    "$VPCD_PORTS" | $SUDO tee "$SYSCTL_CONF" >/dev/null || true
fi

# A pool of virtual card readers for the tests (tests/pool.py leases one per stack under a lock file, so
# parallel workers and two test runs never share a reader), beside vsmartcard-vpcd's own entry (the demo's
# 'Virtual PCD 00 00/01'). Each entry gives two readers, '<name> 00 00' on its CHANNELID's port and
# '<name> 00 01' on the next; pcscd lists at most 16 readers, so 6 entries (12 readers) leave 2 to spare.
# The vpcd driver keeps its readers in one static array by slot, so entries sharing one loaded driver
# overwrite each other (only the last would work): each entry loads its own copy of the driver file.
VPCD_SO=/usr/lib/pcsc/drivers/serial/libifdvpcd.so
READER_DRIVERS=/usr/local/lib/konbini-test-readers
READER_CONF=/etc/reader.conf.d/konbini-test-readers
readers_conf() {
  echo "# konbini's test readers (scripts/install.sh writes this file; tests/pool.py reads it)"
  for n in 0 1 2 3 4 5; do
    port=$((35965 + 2 * n))
    letter=$(printf "\\x$(printf %x $((65 + n)))")
    printf 'FRIENDLYNAME "Konbini Test %s"\nDEVICENAME   /dev/null:0x%X\nLIBPATH      %s/libifdvpcd-%s.so\nCHANNELID    0x%X\n\n' \
      "$letter" "$port" "$READER_DRIVERS" "$letter" "$port"
  done
}
drivers_ok=true
for letter in A B C D E F; do
  cmp -s "$VPCD_SO" "$READER_DRIVERS/libifdvpcd-$letter.so" || drivers_ok=false
done
if [ "$(cat "$READER_CONF" 2>/dev/null)" != "$(readers_conf)" ] || [ "$drivers_ok" = false ]; then
  echo "install: the test card readers in $READER_CONF"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO mkdir -p "$READER_DRIVERS"
  for letter in A B C D E F; do $SUDO cp "$VPCD_SO" "$READER_DRIVERS/libifdvpcd-$letter.so"; done
  readers_conf | $SUDO tee "$READER_CONF" >/dev/null
  if pgrep -x pcscd >/dev/null; then  # pcscd reads the folder only at start: restart it now, never in a run
    echo "install: restarting pcscd to list the new readers"
    $SUDO pkill -x pcscd || true
    for _ in $(seq 50); do pgrep -x pcscd >/dev/null || break; sleep 0.1; done
    $SUDO pcscd
  fi
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
