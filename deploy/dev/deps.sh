#!/usr/bin/env bash
# deps.sh - install what the local stack and the tests need, once.
#
# Debian packages first (apt-get, as root; as another user it prints the one
# command to run and stops), then FerretDB v1.24.2 built from the Go module
# proxy into var/bin/ferretdb (one binary for both of its storage handlers;
# the stack runs it on PostgreSQL). A second run finds everything and
# returns in about a second.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
VAR=${CHAT_VAR_DIR:-$ROOT/var}
FERRETDB_VERSION=v1.24.2
FERRETDB_MODULE=github.com/FerretDB/FerretDB

PACKAGES=(
    # build
    build-essential pkg-config git
    # libraries the C code links
    libfcgi-dev libwslay-dev libmariadb-dev libmongoc-dev libbson-dev libcjson-dev
    libssl-dev libhiredis-dev check libcurl4-openssl-dev
    # thumbnails of uploaded pictures (chat-media): libgd over libjpeg, libpng, libwebp
    libgd-dev
    # servers of the local stack and of the deploy tests (postgresql: FerretDB's storage)
    mariadb-server mariadb-client postgresql lighttpd apache2 libapache2-mod-fcgid spawn-fcgi multiwatch
    logrotate systemd nginx redis-server
    # tools the scripts and tests use
    curl openssl procps iproute2 apache2-utils wrk
    # lint and format
    cppcheck clang-tidy clang-format
    # browser test (the fonts draw Korean text and emoji in the page and its screenshots)
    chromium nodejs npm fonts-noto-cjk fonts-noto-color-emoji
)

missing=()
for p in "${PACKAGES[@]}"; do
    [[ $p == \#* ]] && continue
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    [[ $status == "install ok installed" ]] || missing+=("$p")
done

# Node.js and npm may come from outside Debian (as on the build machines);
# a working `node` and `npm` on PATH is as good as the packages.
if command -v node >/dev/null && command -v npm >/dev/null; then
    filtered=()
    for p in "${missing[@]}"; do
        [[ $p == nodejs || $p == npm ]] || filtered+=("$p")
    done
    missing=("${filtered[@]}")
fi

if ((${#missing[@]})); then
    if [[ $(id -u) -ne 0 ]]; then
        echo "deps: missing Debian packages. Run this once, then try again:" >&2
        echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
        exit 1
    fi
    echo "deps: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # Only refresh the package lists when they are missing or a day old.
    if [[ -z $(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mmin -1440 2>/dev/null | head -n1) ]]; then
        apt-get update -q
    fi
    apt-get install -y -q "${missing[@]}"
fi

# FerretDB: only when no external MongoDB was named.
if [[ -n ${CHAT_MONGO_URI:-} ]]; then
    exit 0
fi
# The version text is read whole first: `| grep -q` under pipefail fails
# now and then (grep exits early, ferretdb gets SIGPIPE) and forced a rebuild.
if [[ -x $VAR/bin/ferretdb ]] && [[ $("$VAR/bin/ferretdb" --version 2>/dev/null) == *"$FERRETDB_VERSION"* ]]; then
    exit 0
fi

GO=$(command -v go || true)
[[ -n $GO ]] || GO=/usr/local/go/bin/go
if [[ ! -x $GO ]]; then
    echo "deps: Go (1.22 or newer) is needed once to build FerretDB; install it at /usr/local/go or on PATH" >&2
    exit 1
fi

echo "deps: building FerretDB $FERRETDB_VERSION (once; a few minutes)"
start=$(date +%s)
export GOFLAGS=-mod=mod GOTOOLCHAIN=local
src_dir=$("$GO" mod download -json "$FERRETDB_MODULE@$FERRETDB_VERSION" |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
if [[ -z $src_dir || ! -d $src_dir ]]; then
    echo "deps: could not download $FERRETDB_MODULE@$FERRETDB_VERSION from the Go module proxy" >&2
    exit 1
fi
work=$VAR/build/ferretdb-src
rm -rf "$work"
mkdir -p "$work" "$VAR/bin"
cp -r "$src_dir/." "$work/"
chmod -R u+w "$work"
# The module leaves out build/version/version.txt, which the binary embeds
# and checks at start: without it ferretdb panics on launch.
echo "$FERRETDB_VERSION" >"$work/build/version/version.txt"
(cd "$work" && "$GO" build -trimpath -o "$VAR/bin/ferretdb.new" ./cmd/ferretdb)
mv "$VAR/bin/ferretdb.new" "$VAR/bin/ferretdb"
rm -rf "$work"
echo "deps: FerretDB built in $(($(date +%s) - start)) s"
