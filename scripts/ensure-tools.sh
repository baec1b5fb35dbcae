# Sourced by ./build and ./test: installs what a fresh Debian machine lacks (Bun and the
# packages through npm, etcd through apt-get) and puts the project's Bun on PATH.
# (sourced: the caller chooses its own shell options)
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

if [ ! -x "$ROOT/node_modules/.bin/bun" ] || [ ! -x "$ROOT/node_modules/.bin/tsc" ] \
  || [ "$ROOT/package-lock.json" -nt "$ROOT/node_modules/.package-lock.json" ]; then
  echo "fleet: installing packages (npm ci)" >&2
  (cd "$ROOT" && npm ci --no-audit --no-fund --loglevel=error >&2)
fi
export PATH="$ROOT/node_modules/.bin:$PATH"

ensure_etcd() {
  if ! command -v etcd >/dev/null 2>&1; then
    if [ "$(id -u)" != 0 ]; then
      echo "fleet: etcd is missing; install Debian's etcd-server package (apt-get install etcd-server) as root" >&2
      return 1
    fi
    echo "fleet: installing etcd (apt-get install etcd-server)" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2 || true
    apt-get install -y -qq etcd-server >&2
  fi
}
