#!/usr/bin/env bash
# Installs the Debian packages gridmap needs, only those that are missing.
#   scripts/install-system-deps.sh            PostgreSQL, PostGIS 3, pgRouting, python3-venv
#   scripts/install-system-deps.sh --browser  Chromium and CJK fonts for the browser tests
#   scripts/install-system-deps.sh --office   LibreOffice Calc and poppler (render-ledger.sh)
# Works as root or as a user with sudo; never prompts (CI has no stdin).
set -euo pipefail

if [ "$(id -u)" -eq 0 ]; then SUDO=(); else SUDO=(sudo -n); fi
export DEBIAN_FRONTEND=noninteractive

updated=0
apt_install() {
    [ $# -eq 0 ] && return 0
    if [ $updated -eq 0 ]; then
        echo "gridmap: apt-get update" >&2
        "${SUDO[@]}" apt-get update -qq
        updated=1
    fi
    echo "gridmap: installing $*" >&2
    "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

pg_version() { ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -n 1; }

if [ "${1:-}" = "--browser" ]; then
    missing=()
    installed chromium || missing+=(chromium)
    installed fonts-noto-cjk || missing+=(fonts-noto-cjk)
    apt_install "${missing[@]}"
    exit 0
fi

if [ "${1:-}" = "--office" ]; then
    missing=()
    for p in libreoffice-calc poppler-utils fonts-noto-cjk; do
        installed "$p" || missing+=("$p")
    done
    apt_install "${missing[@]}"
    exit 0
fi

missing=()
installed postgresql || missing+=(postgresql)
installed postgresql-contrib || missing+=(postgresql-contrib)
python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
apt_install "${missing[@]}"

v=$(pg_version)
if [ -z "$v" ]; then echo "gridmap: PostgreSQL did not install" >&2; exit 1; fi
missing=()
installed "postgresql-$v-postgis-3" || missing+=("postgresql-$v-postgis-3" "postgresql-$v-postgis-3-scripts")
installed "postgresql-$v-pgrouting" || missing+=("postgresql-$v-pgrouting")
apt_install "${missing[@]}"
