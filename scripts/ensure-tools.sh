# Sourced by ./build, scripts/test.sh (npm test) and ./quickstart: installs what a fresh Debian machine lacks (Bun and
# the packages through npm; etcd, openssh-server and chromium through apt-get, on request:
# ensure_etcd, ensure_openssh, ensure_chromium) and puts the project's Bun on PATH.
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

# Debian's openssh-server and the ssh client: sandbox machines share the host's /usr and run its
# /usr/sbin/sshd (for fleet ctl status, journal and ssh). The host's own sshd is not started:
# the package's scripts ask /usr/sbin/policy-rc.d, and its exit status 101 forbids the action.
ensure_openssh() {
  if [ -x /usr/sbin/sshd ] && [ -x /usr/bin/ssh ] && [ -x /usr/bin/ssh-keygen ]; then
    return 0
  fi
  if [ "$(id -u)" != 0 ]; then
    echo "fleet: sshd is missing; install Debian's openssh-server package (apt-get install openssh-server) as root" >&2
    return 1
  fi
  echo "fleet: installing openssh-server for ssh into the sandbox machines (apt-get install openssh-server; the host's sshd is not started)" >&2
  # A subshell, so the trap removes our policy-rc.d however the install ends (Ctrl-C included);
  # left behind, it would stop the host from starting any service.
  (
    policy=/usr/sbin/policy-rc.d
    if [ ! -e "$policy" ]; then
      trap 'rm -f "$policy"' EXIT
      trap 'exit 130' INT TERM
      printf '#!/bin/sh\nexit 101\n' >"$policy"
      chmod 0755 "$policy"
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2 || true
    apt-get install -y -qq --no-install-recommends openssh-server openssh-client >&2
  )
}

# Debian's chromium, for the dashboard's tests in a real browser (driven by playwright-core, which
# never downloads a browser of its own).
ensure_chromium() {
  if [ -x /usr/bin/chromium ]; then
    return 0
  fi
  if [ "$(id -u)" != 0 ]; then
    echo "fleet: chromium is missing; install Debian's chromium package (apt-get install chromium) as root" >&2
    return 1
  fi
  echo "fleet: installing chromium for the dashboard's browser tests (apt-get install chromium)" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2 || true
  apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >&2
}
