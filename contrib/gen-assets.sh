#!/usr/bin/env bash
# Generate the files the Debian package installs but the repository does not
# hold: shell completions and man pages, made by the built binary from the
# same clap definition as --help (so they cannot drift).
#
#   contrib/gen-assets.sh [BINARY] [OUT_DIR]
#
# BINARY defaults to $CARGO_TARGET_DIR/release/mififo (or target/release/mififo),
# OUT_DIR to target/assets (the path Cargo.toml's [package.metadata.deb] reads).
set -euo pipefail
cd "$(dirname "$0")/.."

bin=${1:-${CARGO_TARGET_DIR:-target}/release/mififo}
out=${2:-target/assets}

if [ ! -x "$bin" ]; then
    echo "gen-assets: '$bin' is not an executable; build it first (cargo build --release)" >&2
    exit 1
fi

rm -rf "$out"
mkdir -p "$out/completions" "$out/man"
"$bin" completions bash > "$out/completions/mififo.bash"
"$bin" completions zsh  > "$out/completions/_mififo"
"$bin" completions fish > "$out/completions/mififo.fish"
"$bin" man --out "$out/man"
# Debian policy: man pages are installed gzip-compressed (-n: no timestamp,
# so the package is reproducible).
gzip -9n "$out"/man/*.1

for f in "$out"/completions/* "$out"/man/*; do
    if [ ! -s "$f" ]; then
        echo "gen-assets: '$f' is empty" >&2
        exit 1
    fi
done
echo "gen-assets: $(ls "$out"/completions | wc -l) completion scripts, $(ls "$out"/man | wc -l) man pages in $out"
