#!/usr/bin/env bash
# `cmake --install` of this build into a temporary prefix installs what an operator needs:
# the four programs and their tnl_* short names, a man page for each (read with man -l: a
# section heading and an option, and no groff warnings), bash completion under every
# name, the systemd unit (checked by systemd-analyze verify, its ExecStart pointing at the
# installed server), LICENSE (also as Debian's copyright) and the docs.
set -euo pipefail

: "${TNL_BIN_DIR:?set by ctest}"
build_dir=$(dirname "$TNL_BIN_DIR")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix

fail() { echo "FAIL: $*"; exit 1; }
step() { echo "== $*"; }

step "cmake --install $build_dir --prefix $prefix"
cmake --install "$build_dir" --prefix "$prefix" >"$work/install.log" 2>&1 || { cat "$work/install.log"; fail "cmake --install failed"; }

programs=(tcpnetlock_server tcpnetlock_client tcpnetlock_do tcpnetlock_admin tcpnetlock_distlock)
short=(tnl_server tnl_client tnl_do tnl_admin tnl_distlock)
step "programs and short names"
for i in "${!programs[@]}"; do
  [[ -x $prefix/bin/${programs[i]} ]] || fail "bin/${programs[i]} missing"
  [[ $(readlink "$prefix/bin/${short[i]}") == "${programs[i]}" ]] || fail "bin/${short[i]} is not a link to ${programs[i]}"
done

step "man pages"
for program in "${programs[@]}" "${short[@]}"; do
  [[ -e $prefix/share/man/man1/$program.1.gz ]] || fail "share/man/man1/$program.1.gz missing"
done
if command -v man >/dev/null 2>&1; then
  # option_of PROGRAM: an option every version of it has.
  declare -A option_of=([tcpnetlock_server]=--state-dir [tcpnetlock_client]=--ttl
                        [tcpnetlock_do]=--lock-name [tcpnetlock_admin]=--token-file
                        [tcpnetlock_distlock]=--unlock)
  for program in "${programs[@]}"; do
    page=$prefix/share/man/man1/$program.1.gz
    text=$(MANWIDTH=80 man --warnings -l "$page" 2>"$work/warnings") || fail "man -l $page failed"
    [[ ! -s $work/warnings ]] || { cat "$work/warnings"; fail "groff warnings in $program(1)"; }
    for heading in NAME SYNOPSIS DESCRIPTION OPTIONS "EXIT STATUS" ENVIRONMENT EXAMPLES "SEE ALSO"; do
      grep -qx "$heading" <<<"$text" || fail "$program(1) has no $heading section"
    done
    grep -qE "^ +${option_of[$program]}( |$)" <<<"$text" || fail "$program(1) does not list ${option_of[$program]}"
    grep -qE "^$program +- " <<<"$(sed -n '/^NAME$/,/^$/p' <<<"$text" | sed 's/^ *//')" ||
      fail "$program(1)'s NAME line is not '$program - ...'"
    echo "   $program(1): $(wc -l <<<"$text") lines"
  done
else
  echo "   (man is not installed: pages not rendered; Debian: man-db)"
fi

step "bash completion"
for program in "${programs[@]}" "${short[@]}"; do
  [[ -e $prefix/share/bash-completion/completions/$program ]] || fail "completion for $program missing"
done
completions=$(PATH=$prefix/bin:$PATH bash -c '
  source "$1"
  COMP_WORDS=(tnl_server --state-d); COMP_CWORD=1; _tcpnetlock; echo "${COMPREPLY[*]}"' _ \
  "$prefix/share/bash-completion/completions/tnl_server")
[[ $completions == --state-dir ]] || fail "tnl_server --state-d completes to '$completions'"

step "systemd unit"
unit=$prefix/lib/systemd/system/tcpnetlock-server.service
[[ -f $unit ]] || fail "lib/systemd/system/tcpnetlock-server.service missing"
grep -qx "ExecStart=$prefix/bin/tcpnetlock_server .*--state-dir /var/lib/tcpnetlock.*" "$unit" ||
  fail "ExecStart does not run $prefix/bin/tcpnetlock_server with --state-dir /var/lib/tcpnetlock"
for setting in Type=notify DynamicUser=yes StateDirectory=tcpnetlock ProtectSystem=strict ProtectHome=yes \
               PrivateTmp=yes NoNewPrivileges=yes CapabilityBoundingSet= SystemCallFilter=@system-service; do
  grep -qx "$setting" "$unit" || fail "the unit lacks $setting"
done
if command -v systemd-analyze >/dev/null 2>&1; then
  (cd "$work" && systemd-analyze verify --man=no "$unit") || fail "systemd-analyze verify failed"
else
  echo "   (systemd-analyze is not installed: unit not verified; Debian: systemd)"
fi

step "LICENSE and docs"
docdir=$prefix/share/doc/tcpnetlock
for file in LICENSE copyright README.md docs/PROTOCOL.md docs/HTTP-API.md; do
  [[ -s $docdir/$file ]] || fail "share/doc/tcpnetlock/$file missing"
done
grep -q "MIT License" "$docdir/copyright" || fail "copyright is not the MIT licence"
echo PASS
