#!/usr/bin/env bash
# Build the Debian package, install it, check that everything landed where an
# admin expects it (binary, man pages, completions, units, user), verify the
# installed units with systemd-analyze, then purge it again.
#
# Run as root on Debian 12 (called by .ci/run; works by hand too):
#   contrib/ci-package.sh
# MIFIFO_KEEP_PACKAGE=1 leaves the package installed.
set -euo pipefail
cd "$(dirname "$0")/.."

fail() { echo "ci-package: FAIL: $*" >&2; exit 1; }
step() { echo "== package: $*"; }

step "tools (dpkg-dev for dpkg-shlibdeps, man-db, systemd, zsh/fish for syntax checks)"
need=()
command -v dpkg-shlibdeps >/dev/null || need+=(dpkg-dev)
command -v man >/dev/null || need+=(man-db)
command -v systemd-analyze >/dev/null || need+=(systemd)
command -v zsh >/dev/null || need+=(zsh)
command -v fish >/dev/null || need+=(fish)
command -v gzip >/dev/null || need+=(gzip)
if [ ${#need[@]} -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
if ! cargo deb --version >/dev/null 2>&1; then
    cargo install cargo-deb --locked --version "^3"
fi
cargo deb --version

step "build"
target_dir=${CARGO_TARGET_DIR:-target}
cargo build --release --locked
contrib/gen-assets.sh "$target_dir/release/mififo" target/assets
rm -f "$target_dir"/debian/mififo_*.deb
cargo deb --no-build --locked
deb=$(ls "$target_dir"/debian/mififo_*.deb)
echo "built $deb ($(stat -c %s "$deb") bytes)"

step "package metadata"
depends=$(dpkg-deb -f "$deb" Depends)
echo "Depends: $depends"
[[ "$depends" == *libc6* ]] || fail "Depends lacks libc6 (was dpkg-shlibdeps missing?): '$depends'"
dpkg-deb -c "$deb" > target/deb-contents.txt
for path in ./usr/bin/mififo \
            ./usr/share/man/man1/mififo.1.gz \
            ./usr/share/bash-completion/completions/mififo \
            ./usr/share/zsh/vendor-completions/_mififo \
            ./usr/share/fish/vendor_completions.d/mififo.fish \
            ./usr/lib/systemd/system/mififo-serve@.service \
            ./usr/lib/systemd/system/mififo-gateway.service \
            ./usr/lib/sysusers.d/mififo.conf \
            ./etc/default/mififo-gateway \
            ./etc/mififo/gateway.users \
            ./usr/share/doc/mififo/README.md; do
    grep -q " $path\$" target/deb-contents.txt || fail "package lacks $path"
done

step "install"
if [ "${MIFIFO_KEEP_PACKAGE:-0}" != 1 ]; then
    trap 'dpkg --purge mififo >/dev/null 2>&1 || true' EXIT
fi
dpkg -i "$deb"

want="mififo $(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)"
got=$(/usr/bin/mififo --version)
[ "$got" = "$want" ] || fail "/usr/bin/mififo --version says '$got', expected '$want'"
echo "version: $got"

subcommands=$(/usr/bin/mififo --help |
    sed -n '/^Commands:/,/^$/p' | awk 'NR>1 && $1 != "help" && NF {print $1}')
[ -n "$subcommands" ] || fail "no subcommands found in mififo --help"
for page in mififo $(for s in $subcommands; do echo "mififo-$s"; done); do
    file=$(man -w "$page") ||
        fail "man -w $page found nothing$(grep -qs 'path-exclude.*/usr/share/man' /etc/dpkg/dpkg.cfg.d/* &&
            echo ' (dpkg excludes /usr/share/man here: see /etc/dpkg/dpkg.cfg.d/)')"
    echo "man page: $file"
    zcat "$file" | grep -q '^\.TH' || fail "$file is not a man page"
done

step "completions"
bash -n /usr/share/bash-completion/completions/mififo || fail "bash completion has syntax errors"
zsh -n /usr/share/zsh/vendor-completions/_mififo || fail "zsh completion has syntax errors"
fish --no-execute /usr/share/fish/vendor_completions.d/mififo.fish || fail "fish completion has syntax errors"
for s in $subcommands; do
    for f in /usr/share/bash-completion/completions/mififo \
             /usr/share/zsh/vendor-completions/_mififo \
             /usr/share/fish/vendor_completions.d/mififo.fish; do
        grep -qw -- "$s" "$f" || fail "$f does not mention subcommand '$s'"
    done
done
# The completion is loaded on demand by bash-completion and completes subcommands.
got=$(bash -c 'source /usr/share/bash-completion/completions/mififo
    COMP_WORDS=(mififo do); COMP_CWORD=1; COMP_LINE="mififo do"; COMP_POINT=${#COMP_LINE}
    _mififo mififo do mififo; printf "%s\n" "${COMPREPLY[@]}"')
[ "$got" = "doctor" ] || fail "bash completion of 'mififo do' gave '$got', expected 'doctor'"

step "user and units"
getent passwd mififo >/dev/null || fail "postinst did not create the user 'mififo'"
getent group mififo >/dev/null || fail "postinst did not create the group 'mififo'"
dpkg-query -W -f='${Conffiles}\n' mififo | grep -q /etc/default/mififo-gateway ||
    fail "/etc/default/mififo-gateway is not a conffile"
dpkg-query -W -f='${Conffiles}\n' mififo | grep -q /etc/mififo/gateway.users ||
    fail "/etc/mififo/gateway.users is not a conffile"
[ "$(stat -c '%a %G' /etc/mififo/gateway.users)" = "640 mififo" ] ||
    fail "/etc/mififo/gateway.users is $(stat -c '%a %G' /etc/mififo/gateway.users), expected 640 mififo"
# verify loads the units as systemd would (no running systemd needed): unknown
# keys and bad values only warn, so any output at all fails the check. It also
# checks that ExecStart= exists and the Documentation= man pages are installed.
verify_log=$(mktemp)
if ! systemd-analyze verify mififo-serve@ci.service mififo-gateway.service >"$verify_log" 2>&1 ||
    [ -s "$verify_log" ]; then
    cat "$verify_log" >&2
    fail "systemd-analyze verify of the installed units"
fi
echo "systemd-analyze verify: clean"
for unit in mififo-serve@ci.service mififo-gateway.service; do
    systemd-analyze security --offline=true "$unit" 2>/dev/null | grep 'Overall exposure' || true
done

if [ "${MIFIFO_KEEP_PACKAGE:-0}" != 1 ]; then
    step "purge"
    dpkg --purge mififo
    trap - EXIT
    for path in /usr/bin/mififo /usr/lib/systemd/system/mififo-serve@.service /etc/default/mififo-gateway; do
        [ ! -e "$path" ] || fail "$path is still there after purge"
    done
fi
echo "ci-package: ok"
