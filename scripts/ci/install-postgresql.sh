#!/usr/bin/env bash
# CI: installs Debian's PostgreSQL server when its binaries are missing, so that test/cluster runs instead of
# skipping (the tests look for /usr/lib/postgresql/<version>/bin/initdb and start their own throwaway server; no
# cluster is created or started here). Idempotent: does nothing when initdb is already there. Uses sudo only when
# not root. Run with STRATA_REQUIRE_POSTGRES=1 in the test environment to make a missing server a failure.
set -euo pipefail

if compgen -G '/usr/lib/postgresql/*/bin/initdb' > /dev/null; then
  echo "PostgreSQL is installed: $(ls -d /usr/lib/postgresql/*/bin | tr '\n' ' ')"
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo > /dev/null; then
  as_root=(sudo -n)
else
  echo "install-postgresql: not root and no sudo; cannot install postgresql" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update
# postgresql pulls the current major version's server (postgresql-15 on Debian 12) and its client.
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql

if ! compgen -G '/usr/lib/postgresql/*/bin/initdb' > /dev/null; then
  echo "install-postgresql: postgresql installed, but no /usr/lib/postgresql/*/bin/initdb found" >&2
  exit 1
fi
echo "PostgreSQL installed: $(ls -d /usr/lib/postgresql/*/bin | tr '\n' ' ')"
