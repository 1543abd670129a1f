#!/usr/bin/env bash
# Sets up and runs the whole stack on one machine: a private PostgreSQL cluster, the
# migrations, the FastCGI pool and nginx. Used by `make run` and `make test`.
#
#   scripts/stack.sh deps              install what is missing (apt, PyPI)
#   scripts/stack.sh up DIR PORT       start everything with state under DIR
#   scripts/stack.sh db DIR            start only PostgreSQL (migrated) under DIR
#   scripts/stack.sh down DIR          stop everything started under DIR
#   scripts/stack.sh url DIR           print the owner's DATABASE_URL of the stack under DIR
#   scripts/stack.sh app-url DIR       print the application role's DATABASE_URL
#   scripts/stack.sh home DIR          print where the stack under DIR keeps its state
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BILLING_BIN:-$ROOT/.build/release/billing}
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
WORKERS=${WORKERS:-2}
# nginx's workers run as this user when nginx starts as root (Debian's www-data); they
# alone, besides the pool's owner, may connect to the pool's socket. Unprivileged: nginx
# runs as whoever starts it.
if [ "$(id -u)" = 0 ]; then NGINX_USER=${NGINX_USER:-www-data}; else NGINX_USER=$(id -un); fi
THREADS=${THREADS:-4}
SWAGGER_VERSION=5.31.0

log() { printf '==> %s\n' "$*" >&2; }

as_postgres() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

deps() {
    local missing=()
    command -v nginx >/dev/null || missing+=(nginx-light)
    [ -f /usr/include/fcgiapp.h ] || missing+=(libfcgi-dev)
    [ -f /usr/include/postgresql/libpq-fe.h ] || missing+=(libpq-dev)
    [ -f /usr/include/openssl/hmac.h ] || missing+=(libssl-dev)
    compgen -G "/usr/include/*/curl/curl.h" >/dev/null || [ -f /usr/include/curl/curl.h ] || missing+=(libcurl4-openssl-dev)
    [ -n "$PGBIN" ] && [ -x "$PGBIN/initdb" ] || missing+=(postgresql)
    command -v pkg-config >/dev/null || missing+=(pkg-config)
    command -v curl >/dev/null || missing+=(curl)
    command -v python3 >/dev/null || missing+=(python3 python3-pip)
    # Documents: PDFs through cairo and pango with Debian's fonts (DejaVu; WenQuanYi for CJK
    # by fontconfig's fallback), Chart.js for the dashboard, and what the tests read them with.
    pkg-config --exists pangocairo 2>/dev/null || missing+=(libcairo2-dev libpango1.0-dev)
    [ -d /usr/share/fonts/truetype/dejavu ] || missing+=(fonts-dejavu-core)
    [ -d /usr/share/fonts/truetype/wqy ] || missing+=(fonts-wqy-microhei)
    [ -f /usr/share/javascript/chart.js/Chart.min.js ] || missing+=(libjs-chart.js)
    command -v pdftotext >/dev/null || missing+=(poppler-utils)
    command -v chromium >/dev/null || missing+=(chromium)
    command -v chromedriver >/dev/null || missing+=(chromium-driver)
    if [ ${#missing[@]} -gt 0 ]; then
        log "installing ${missing[*]}"
        local sudo=""
        [ "$(id -u)" = 0 ] || sudo=sudo
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
        PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
    fi
    # Python packages (Swagger UI assets, test tools) go to a private folder, never the system.
    local py=$ROOT/.data/py
    local requirements=("swagger-ui-bundle-v2==$SWAGGER_VERSION" pytest requests openapi-spec-validator pyyaml
        "schemathesis==4.*" openapi-python-client selenium)
    local marker
    marker="$py/.installed-$(echo "${requirements[*]}" | sha256sum | cut -c1-12)"
    if [ ! -f "$marker" ]; then
        log "installing Swagger UI $SWAGGER_VERSION and the test tools from PyPI"
        rm -rf "$py" && mkdir -p "$py"
        PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install -q --disable-pip-version-check --target "$py" \
            "${requirements[@]}"
        touch "$marker"
    fi
}

# Where the running stack keeps its state: DIR itself, unless the unprivileged users
# that PostgreSQL and nginx's workers run as cannot reach it (a checkout under /root,
# say); then a folder under /tmp that DIR/home points to.
state_home() {
    local dir=$1
    if [ -L "$dir/home" ]; then readlink "$dir/home"; return; fi
    if [ "$(id -u)" = 0 ] && ! { runuser -u postgres -- test -x "$dir" && runuser -u "$NGINX_USER" -- test -x "$dir"; }; then
        local home
        home=$(mktemp -d /tmp/billing-state.XXXXXX)
        chmod 755 "$home"
        ln -sfn "$home" "$dir/home"
        echo "$home"
    else
        echo "$dir"
    fi
}

# The owner's URL (migrations, tests' checks) and the application's (the pool, the CLI).
database_url() { echo "postgresql:///billing?host=$(state_home "$1")/pg-socket&user=postgres"; }
app_url() { echo "postgresql:///billing?host=$(state_home "$1")/pg-socket&user=billing_app"; }

start_postgres() {
    local home
    home=$(state_home "$1")
    # The socket's folder is the cluster owner's alone (root, which runs the pool, passes):
    # no other local user, nginx's workers included, can even reach the socket.
    mkdir -p "$home/pg-socket"
    [ "$(id -u)" = 0 ] && chown postgres "$home/pg-socket"
    chmod 0700 "$home/pg-socket"
    if [ ! -f "$home/pg/PG_VERSION" ]; then
        log "initialising PostgreSQL cluster in $home/pg"
        mkdir -p "$home/pg"
        [ "$(id -u)" = 0 ] && chown postgres "$home/pg"
        as_postgres "$PGBIN/initdb" -D "$home/pg" -U postgres --auth=peer -E UTF8 --locale=C.UTF-8 >/dev/null
    fi
    # Peer authentication: the kernel says who connects, and only the users mapped here may
    # log in as the owner (postgres) or the service's role (billing_app). Written on every
    # start, so that a cluster made by an older set-up (which trusted everyone) is closed too.
    local me
    me=$(id -un)
    printf 'local all all peer map=billing\n' | as_postgres tee "$home/pg/pg_hba.conf" >/dev/null
    printf 'billing postgres postgres\nbilling %s postgres\nbilling %s billing_app\n' "$me" "$me" |
        as_postgres tee "$home/pg/pg_ident.conf" >/dev/null
    # Unix socket only: PostgreSQL is never reachable over the network.
    as_postgres "$PGBIN/pg_ctl" -D "$home/pg" -l "$home/pg/server.log" -w -t 60 \
        -o "-c listen_addresses='' -k $home/pg-socket -c unix_socket_permissions=0700 -c max_connections=100 -c shared_buffers=256MB" \
        start >/dev/null
    as_postgres "$PGBIN/psql" -h "$home/pg-socket" -U postgres -d postgres -Atqc \
        "SELECT 1 FROM pg_database WHERE datname = 'billing'" | grep -q 1 ||
        as_postgres "$PGBIN/createdb" -h "$home/pg-socket" -U postgres billing
}

install_docs() {
    local dir=$1
    local vendor
    vendor=$(ls -d "$ROOT"/.data/py/swagger_ui_bundle/vendor/swagger-ui-* | tail -n 1)
    rm -rf "$dir/docs" && mkdir -p "$dir/docs"
    cp "$vendor"/*.js "$vendor"/*.css "$vendor"/*.png "$vendor"/index.html "$dir/docs/"
    cp "$ROOT/nginx/swagger-initializer.js" "$dir/docs/swagger-initializer.js"
    cp "$ROOT/nginx/openapi.yaml" "$dir/openapi.yaml"
    # The dashboard, with Chart.js from Debian's libjs-chart.js (installed, never committed).
    rm -rf "$dir/dashboard" && mkdir -p "$dir/dashboard"
    cp "$ROOT"/nginx/dashboard/* "$dir/dashboard/"
    cp /usr/share/javascript/chart.js/Chart.min.js "$dir/dashboard/chart.min.js"
}

render_nginx() {
    local dir=$1 port=$2
    mkdir -p "$dir/nginx"
    sed -e "s|\${NGINX_DIR}|$dir/nginx|g" \
        -e "s|\${LISTEN}|127.0.0.1:$port|g" \
        -e "s|\${FASTCGI_ADDRESS}|unix:$dir/billing.sock|g" \
        -e "s|\${OPENAPI_FILE}|$dir/openapi.yaml|g" \
        -e "s|\${DOCS_DIR}|$dir/docs|g" \
        -e "s|\${DASHBOARD_DIR}|$dir/dashboard|g" \
        -e "s|\${RATE_LIMIT}|${RATE_LIMIT:-2000r/s}|g" \
        -e "s|\${RATE_BURST}|${RATE_BURST:-4000}|g" \
        -e "s|\${NGINX_USER}|$NGINX_USER|g" \
        "$ROOT/nginx/nginx.conf.template" >"$dir/nginx/nginx.conf"
    cp "$ROOT/nginx/fastcgi_billing.conf" "$dir/nginx/"
}

# PostgreSQL only, migrated: for benchmarks and tools.
db() {
    local dir
    dir=$(mkdir -p "$1" && cd "$1" && pwd)
    deps
    start_postgres "$dir"
    "$BIN" migrate --dir "$ROOT/sql" --database-url "$(database_url "$dir")" >&2
    # Peer authentication decides who may use the role (pg_ident.conf), so it only needs LOGIN.
    as_postgres "$PGBIN/psql" -h "$(state_home "$dir")/pg-socket" -U postgres -d billing -qAtc \
        "ALTER ROLE billing_app LOGIN" >/dev/null
}

up() {
    local dir port
    dir=$(mkdir -p "$1" && cd "$1" && pwd)
    port=$2
    db "$dir"
    local url
    url=$(app_url "$dir")
    dir=$(state_home "$dir")
    install_docs "$dir"
    render_nginx "$dir" "$port"

    log "starting the pool ($WORKERS workers x $THREADS threads)"
    # Documents show the seller (documents.md): a sample one unless the environment names it.
    export BILLING_PUBLIC_URL=${BILLING_PUBLIC_URL:-http://127.0.0.1:$port}
    export BILLING_SELLER_NAME=${BILLING_SELLER_NAME:-Example Billing GmbH}
    export BILLING_SELLER_ADDRESS="${BILLING_SELLER_ADDRESS:-Hauptstraße 1\n10115 Berlin\nGermany}"
    export BILLING_SELLER_EMAIL=${BILLING_SELLER_EMAIL:-billing@example.com}
    export BILLING_SELLER_TAX_ID=${BILLING_SELLER_TAX_ID:-DE123456789}
    DATABASE_URL=$url BILLING_RUN_INTERVAL=${BILLING_RUN_INTERVAL:-60} nohup "$BIN" serve --socket "$dir/billing.sock" \
        --socket-group "$(id -gn "$NGINX_USER")" --workers "$WORKERS" --threads "$THREADS" \
        --pid-file "$dir/billing.pid" $([ "${WEBHOOK_SENDER:-1}" = 0 ] && echo --no-webhook-sender) \
        >>"$dir/billing.log" 2>&1 &
    for _ in $(seq 100); do [ -S "$dir/billing.sock" ] && break; sleep 0.1; done
    [ -S "$dir/billing.sock" ] || { tail -n 20 "$dir/billing.log" >&2; exit 1; }

    log "starting nginx on 127.0.0.1:$port"
    nginx -p "$dir/nginx" -c "$dir/nginx/nginx.conf" -e "$dir/nginx/error.log"
    for _ in $(seq 100); do
        curl -fsS "http://127.0.0.1:$port/health/ready" >/dev/null 2>&1 && break
        sleep 0.1
    done
    curl -fsS "http://127.0.0.1:$port/health/ready" >/dev/null || { tail -n 20 "$dir/billing.log" >&2; exit 1; }
}

down() {
    local dir=$1
    [ -d "$dir" ] || return 0
    dir=$(cd "$dir" && pwd)
    local top=$dir
    dir=$(state_home "$top")
    if [ -f "$dir/nginx/nginx.pid" ]; then
        nginx -p "$dir/nginx" -c "$dir/nginx/nginx.conf" -e "$dir/nginx/error.log" -s quit 2>/dev/null || true
    fi
    if [ -f "$dir/billing.pid" ]; then
        local pid
        pid=$(head -n 1 "$dir/billing.pid")
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
    if [ -f "$dir/pg/postmaster.pid" ]; then
        as_postgres "$PGBIN/pg_ctl" -D "$dir/pg" -m fast -w stop >/dev/null 2>&1 || true
    fi
    # State that had to live outside DIR goes with it when asked.
    if [ -L "$top/home" ] && [ "${KEEP_DATA:-1}" = 0 ]; then rm -rf "$dir" "$top/home"; fi
}

case "${1:-}" in
deps) deps ;;
up) up "$2" "$3" ;;
db) db "$2" ;;
down) down "$2" ;;
url) dir=$(cd "$2" && pwd); database_url "$dir" ;;
app-url) dir=$(cd "$2" && pwd); app_url "$dir" ;;
home) dir=$(cd "$2" && pwd); state_home "$dir" ;;
*) echo "usage: $0 deps | up DIR PORT | db DIR | down DIR | url DIR | home DIR" >&2; exit 2 ;;
esac
