#!/usr/bin/env bash
# Installs what `make up` and `make test` need: Debian packages (as root), the .venv, npm packages.
# Idempotent: each step is skipped when its result is already there and up to date.
set -euo pipefail
cd "$(dirname "$0")/.."
what="${1:-test}"   # test | up

debs=(chromium chromium-driver postgresql git kubectl ripgrep libkrb5-dev)
missing=()
for d in "${debs[@]}"; do
  dpkg -s "$d" >/dev/null 2>&1 || missing+=("$d")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "bootstrap: installing Debian packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "bootstrap: missing Debian packages: ${missing[*]}"
    echo "bootstrap: install them with: sudo apt-get install -y --no-install-recommends ${missing[*]}"
    echo "bootstrap: continuing; the parts that need them will say so."
  fi
fi

# The venv is made from Debian's python3 so that per-user system accounts can run it (see RECIPES).
py=/usr/bin/python3
[ -x "$py" ] || py="$(command -v python3)"
if [ ! -x .venv/bin/python ]; then
  echo "bootstrap: creating .venv"
  "$py" -m venv .venv
fi
stamp=.venv/.installed-$what
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "bootstrap: installing the project into .venv ([$what])"
  .venv/bin/pip install -q --upgrade pip
  extra=test; [ "$what" = up ] && extra=local
  .venv/bin/pip install -q -e ".[$extra]"
  touch "$stamp"
fi

# npm packages: the proxy at the root, the development IdP in hub/idp.
for dir in . hub/idp; do
  if [ -f "$dir/package.json" ]; then
    if [ ! -d "$dir/node_modules" ] || [ "$dir/package.json" -nt "$dir/node_modules" ]; then
      echo "bootstrap: npm install in $dir"
      (cd "$dir" && if [ -f package-lock.json ]; then npm ci --no-audit --no-fund --loglevel=error; else npm install --no-audit --no-fund --loglevel=error; fi)
      touch "$dir/node_modules"
    fi
  fi
done
