#!/usr/bin/env bash
# Builds the PostgreSQL and MariaDB images the containers backend of
# shardtx/testing runs in CI, from the servers installed on this machine
# (Debian packages postgresql-15 and mariadb-server), without pulling
# anything: each image is a directory holding the server programs, their
# data files and the shared libraries ldd names, imported with `docker import`.
#
#   scripts/build-local-images.sh            # builds both
#   SHARDTX_IMAGE_PREFIX=mine scripts/build-local-images.sh
#
# Images: shardtx-local/postgres:15 and shardtx-local/mariadb:10.11 (the
# installed major version), each also tagged :latest. Both take the official images' variables
# (POSTGRES_PASSWORD, MARIADB_ROOT_PASSWORD) and extra server arguments as the
# command, keep their data inside the container (so `docker stop` / `start`
# keeps it) and listen on 127.0.0.1 only: run them with `--network host`.
set -euo pipefail
# The image's files must be readable by its postgres user, whatever the caller's umask.
umask 022

prefix="${SHARDTX_IMAGE_PREFIX:-shardtx-local}"
work="$(mktemp -d "${TMPDIR:-/tmp}/shardtx-images-XXXXXX")"
trap 'rm -rf "$work"' EXIT

# Copies a file to the same path under $root, parent directories resolved
# (the image has Debian's merged /usr: /bin, /lib, /lib64 link into /usr).
copy_path() {
  local root="$1" file="$2"
  local real_dir
  real_dir="$(readlink -f "$(dirname "$file")")"
  [ -e "$root$real_dir/$(basename "$file")" ] || cp -RP --parents "$real_dir/$(basename "$file")" "$root"
  # A symlink (sh -> dash, libc.so.6 -> …) needs its target too.
  if [ -L "$file" ]; then copy_path "$root" "$(readlink -f "$file")"; fi
}

# Copies programs and every library ldd lists for them (one ldd for all:
# a PostgreSQL image has a hundred modules).
copy_with_libs() {
  local root="$1"; shift
  local file lib
  for file in "$@"; do copy_path "$root" "$file"; done
  for lib in $(ldd "$@" 2>/dev/null | awk '/=> \// { print $3 } /^[ \t]*\/[^ ]+ \(/ { print $1 }' | sort -u); do
    copy_path "$root" "$lib"
  done
}

# /bin/sh and the few tools the entry scripts and mariadb-install-db use.
base_root() {
  local root="$1"
  mkdir -p "$root"/{etc,tmp,dev,proc,sys} "$root"/usr/{bin,sbin,lib,lib64}
  for dir in bin sbin lib lib64; do ln -s "usr/$dir" "$root/$dir"; done
  chmod 1777 "$root/tmp"
  copy_with_libs "$root" /bin/sh /bin/dash /bin/cat /bin/chmod /bin/chown /bin/mkdir /bin/rm /bin/sed \
    /bin/hostname /bin/uname /usr/bin/dirname /usr/bin/find /usr/bin/id "$(readlink -f /usr/bin/awk)"
  ln -sf "$(readlink -f /usr/bin/awk)" "$root/usr/bin/awk"
  cp -RP --parents /usr/share/zoneinfo "$root"
  printf 'root:x:0:0:root:/root:/bin/sh\npostgres:x:999:999:postgres:/var/lib/postgresql:/bin/sh\n' >"$root/etc/passwd"
  printf 'root:x:0:\npostgres:x:999:\n' >"$root/etc/group"
}

import_image() {
  local root="$1" name="$2"; shift 2
  local started=$SECONDS old
  old="$(docker image inspect -f '{{.Id}}' "$name" 2>/dev/null || true)"
  tar --numeric-owner -C "$root" -c . | docker import "$@" - "$name" >/dev/null
  docker tag "$name" "${name%:*}:latest"
  # A rebuild leaves the previous image untagged; drop it unless a container still uses it.
  if [ -n "$old" ]; then docker image rm "$old" >/dev/null 2>&1 || true; fi
  echo "built $name ($(docker image inspect -f '{{.Size}}' "$name" | awk '{ printf "%.0f MB", $1 / 1e6 }'), import $((SECONDS - started)) s)"
}

build_postgres() {
  local bin
  bin="$(dirname "$(ls -d /usr/lib/postgresql/*/bin/postgres | sort -V | tail -n 1)")"
  local home="${bin%/bin}" major="${bin%/bin}"; major="${major##*/}"
  local root="$work/postgres"
  base_root "$root"
  copy_with_libs "$root" "$bin"/{postgres,initdb,pg_ctl,pg_isready,psql}
  # Extension modules (initdb loads the snowball dictionaries); not the JIT, which pulls in LLVM.
  copy_with_libs "$root" $(ls "$home"/lib/*.so | grep -v /llvmjit)
  cp -RP --parents "/usr/share/postgresql/$major" "$root"
  mkdir -p "$root/var/lib/postgresql/data"
  chown -R 999:999 "$root/var/lib/postgresql"
  chmod 700 "$root/var/lib/postgresql/data"
  cat >"$root/entry.sh" <<EOF
#!/bin/sh
# initdb on the first start only: a restarted container finds its data.
set -e
PGDATA=/var/lib/postgresql/data
if [ ! -s "\$PGDATA/PG_VERSION" ]; then
  printf '%s\n' "\${POSTGRES_PASSWORD:-postgres}" >/tmp/pwfile
  initdb -D "\$PGDATA" -U postgres --pwfile=/tmp/pwfile --auth-local=trust --auth-host=scram-sha-256 \\
    --no-locale -E UTF8 >/tmp/initdb.log
  rm -f /tmp/pwfile
  echo 'host all all 127.0.0.1/32 scram-sha-256' >>"\$PGDATA/pg_hba.conf"
fi
[ "\${1:-}" = postgres ] && shift
exec postgres -D "\$PGDATA" -c listen_addresses=127.0.0.1 -c unix_socket_directories=/tmp \\
  -c max_prepared_transactions=100 "\$@"
EOF
  chmod 755 "$root/entry.sh"
  import_image "$root" "$prefix/postgres:$major" \
    -c "ENV PATH=$bin:/usr/bin:/bin:/usr/sbin:/sbin" -c 'USER postgres' \
    -c 'ENTRYPOINT ["/entry.sh"]' -c 'CMD ["postgres"]'
}

build_mariadb() {
  local server
  server="$(command -v mariadbd || echo /usr/sbin/mariadbd)"
  local major
  major="$("$server" --version | sed -E 's/.*Ver ([0-9]+\.[0-9]+).*/\1/')"
  local root="$work/mariadb"
  base_root "$root"
  copy_with_libs "$root" "$server" /usr/bin/mariadb-install-db /usr/bin/my_print_defaults /usr/bin/resolveip \
    /usr/bin/mariadb /usr/bin/mariadb-admin
  cp -RP --parents /usr/share/mysql "$root"
  mkdir -p "$root/var/lib/mysql"
  cat >"$root/entry.sh" <<'EOF'
#!/bin/sh
# mariadb-install-db on the first start only: a restarted container finds its data.
set -e
DATADIR=/var/lib/mysql
if [ ! -d "$DATADIR/mysql" ]; then
  mariadb-install-db --no-defaults --user=root --datadir="$DATADIR" --auth-root-authentication-method=normal \
    --skip-test-db --skip-name-resolve >/tmp/install-db.log
  # Like the official image: root logs in over TCP with the given password. The
  # password-less root@127.0.0.1 and root@<hostname> that install-db made would match first.
  mariadbd --no-defaults --user=root --datadir="$DATADIR" --bootstrap --skip-networking >>/tmp/install-db.log 2>&1 <<SQL
DELETE FROM mysql.global_priv WHERE User = 'root' AND Host <> 'localhost';
FLUSH PRIVILEGES;
CREATE USER 'root'@'%' IDENTIFIED BY '${MARIADB_ROOT_PASSWORD:-}';
GRANT ALL PRIVILEGES ON *.* TO 'root'@'%' WITH GRANT OPTION;
SQL
fi
[ "${1:-}" = mariadbd ] && shift
exec mariadbd --no-defaults --user=root --datadir="$DATADIR" --bind-address=127.0.0.1 --skip-name-resolve \
  --socket=/tmp/mysqld.sock --pid-file=/tmp/mysqld.pid "$@"
EOF
  chmod 755 "$root/entry.sh"
  import_image "$root" "$prefix/mariadb:$major" \
    -c 'ENV PATH=/usr/bin:/bin:/usr/sbin:/sbin' -c 'ENTRYPOINT ["/entry.sh"]' -c 'CMD ["mariadbd"]'
}

started=$SECONDS
build_postgres
build_mariadb
echo "local images built in $((SECONDS - started)) s, nothing pulled"
