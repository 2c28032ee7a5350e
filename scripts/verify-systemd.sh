#!/usr/bin/env bash
# Checks the systemd packaging: builds vodwatchd into a temp dir, runs
# `systemd-analyze verify` on a copy of the unit whose ExecStart points at
# that binary (verify needs an existing executable), fails on any warning,
# validates the sysusers.d and tmpfiles.d files against a scratch root, and
# prints `systemd-analyze security` for the unit (failing above
# SECURITY_THRESHOLD, default 2.0 on systemd's 0-10 exposure scale).
# Installs nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

unit=packaging/systemd/vodwatchd.service
sysusers=packaging/systemd/vodwatchd.sysusers
tmpfiles=packaging/systemd/vodwatchd.tmpfiles
threshold=${SECURITY_THRESHOLD:-2.0}

die() { echo "verify-systemd: $*" >&2; exit 1; }

command -v systemd-analyze >/dev/null 2>&1 ||
  die "systemd-analyze not found; install systemd (Debian/Ubuntu: apt-get install systemd)"
for f in "$unit" "$sysusers" "$tmpfiles"; do
  [ -f "$f" ] || die "missing $f"
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "building vodwatchd into $work"
go build -o "$work/vodwatchd" ./cmd/vodwatchd || die "go build ./cmd/vodwatchd failed"

grep -q '^ExecStart=/usr/bin/vodwatchd ' "$unit" ||
  die "$unit: ExecStart no longer starts with /usr/bin/vodwatchd; update this script"
sed "s#^ExecStart=/usr/bin/vodwatchd #ExecStart=$work/vodwatchd #" "$unit" >"$work/vodwatchd.service"

echo "systemd-analyze verify $unit"
out=$(systemd-analyze verify --man=no "$work/vodwatchd.service" 2>&1) ||
  die "verify failed:
$out"
# verify exits 0 on unknown keys and bad values; treat any output as failure.
[ -z "$out" ] || die "verify reported problems:
$out"
echo "  ok"

echo "systemd-sysusers --dry-run $sysusers"
mkdir -p "$work/root/etc"
out=$(systemd-sysusers --root="$work/root" --dry-run "$PWD/$sysusers" 2>&1) ||
  die "sysusers failed:
$out"
grep -q "Creating user 'vodwatchd'" <<<"$out" || die "sysusers does not create vodwatchd:
$out"
echo "  ok"

if [ "$(id -u)" -eq 0 ]; then
  echo "systemd-tmpfiles --create $tmpfiles (scratch root)"
  systemd-sysusers --root="$work/root" "$PWD/$sysusers" >/dev/null 2>&1 || die "sysusers into scratch root failed"
  out=$(systemd-tmpfiles --root="$work/root" --create "$PWD/$tmpfiles" 2>&1) ||
    die "tmpfiles failed:
$out"
  [ -z "$out" ] || die "tmpfiles reported problems:
$out"
  for d in etc/vodwatchd var/lib/vodwatchd srv/vodwatchd/drop srv/vodwatchd/done srv/vodwatchd/failed; do
    [ -d "$work/root/$d" ] || die "tmpfiles did not create /$d"
  done
  echo "  ok"
else
  echo "systemd-tmpfiles: not root, skipping the scratch-root creation check"
fi

echo "systemd-analyze security --offline=true $unit"
sec=$(systemd-analyze security --offline=true --threshold=100 "$work/vodwatchd.service" 2>&1) ||
  die "security review failed:
$sec"
grep -F '✗' <<<"$sec" || true
score=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' <<<"$sec")
[ -n "$score" ] || die "no exposure level in the security review:
$sec"
echo "exposure level: $score (0 = most restricted, 10 = unrestricted; threshold $threshold)"
awk -v s="$score" -v t="$threshold" 'BEGIN { exit !(s <= t) }' ||
  die "exposure level $score is above $threshold"
