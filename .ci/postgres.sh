# Sourced by .ci/run: make sure a real PostgreSQL server answers on loopback and export
# KPI_TEST_POSTGRES_DSN for the tests that need one (connectors, the postgres dbt target).
#
# A DSN given by the caller wins. Otherwise Debian's `postgresql` is installed when
# missing, its cluster started when no server answers on 127.0.0.1, and a test role
# that may create databases is made (each test module creates and drops its own
# database, so concurrent runs do not share tables). The role's password only guards a
# server bound to loopback for tests; it is not a secret.

_kpi_pg_role=kpi_test
_kpi_pg_dsn="postgresql://${_kpi_pg_role}:${_kpi_pg_role}@127.0.0.1:5432/${_kpi_pg_role}"

_kpi_pg_setup() {
  if [ -n "${KPI_TEST_POSTGRES_DSN:-}" ]; then
    echo "postgres: using KPI_TEST_POSTGRES_DSN from the environment"
    return 0
  fi
  if [ "$(id -u)" != 0 ]; then
    echo "postgres: not root, cannot install or start a server; set KPI_TEST_POSTGRES_DSN" >&2
    return 1
  fi
  if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
    echo "postgres: installing Debian's postgresql"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  fi
  local bin
  bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  if ! "$bin/pg_isready" -q -h 127.0.0.1 -p 5432; then
    local version
    version=$(basename "$(dirname "$bin")")
    # A container image may ship the package without a cluster.
    if ! pg_lsclusters -h 2>/dev/null | awk '{print $1"/"$2}' | grep -qx "$version/main"; then
      pg_createcluster "$version" main >/dev/null
    fi
    echo "postgres: starting cluster $version/main on 127.0.0.1:5432"
    pg_ctlcluster "$version" main start
    for _ in $(seq 1 30); do
      "$bin/pg_isready" -q -h 127.0.0.1 -p 5432 && break
      sleep 1
    done
  fi
  # The postgres OS user reaches the server through the local socket (peer auth).
  runuser -u postgres -- "$bin/psql" -q -v ON_ERROR_STOP=1 -d postgres <<SQL
do \$\$
begin
  if not exists (select from pg_roles where rolname = '${_kpi_pg_role}') then
    create role ${_kpi_pg_role} login createdb password '${_kpi_pg_role}';
  end if;
end
\$\$;
SQL
  if ! runuser -u postgres -- "$bin/psql" -tAq -d postgres \
      -c "select 1 from pg_database where datname = '${_kpi_pg_role}'" | grep -q 1; then
    runuser -u postgres -- "$bin/createdb" -O "${_kpi_pg_role}" "${_kpi_pg_role}"
  fi
  export KPI_TEST_POSTGRES_DSN="$_kpi_pg_dsn"
  echo "postgres: ready at 127.0.0.1:5432 (KPI_TEST_POSTGRES_DSN exported)"
}

_kpi_pg_setup
