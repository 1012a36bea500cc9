#!/bin/sh
# Installs criu-helper with its file capabilities and its configuration.
#
# usage: install/setcap.sh [--prefix DIR] [--criu PATH] [--group NAME] [--binary PATH]
#   --prefix DIR   install DIR/bin/criu-helper, DIR/etc/criu-helper.conf, the scheduler
#                  integrations in DIR/share/criu-helper, the man pages in DIR/share/man
#                  and the audit report DIR/sbin/criu-helper-audit (default /usr/local)
#   --criu PATH    criu to use (absolute, root-owned; default: keep the configured one,
#                  else /opt/criu4/usr/sbin/criu if present, else /usr/sbin/criu)
#   --group NAME   only members of group NAME may run the helper (mode 0750)
#   --binary PATH  the built helper (default .build/release/criu-helper)
#
# The capabilities are permitted only (+p): the helper raises each one when it
# needs it. cap_checkpoint_restore is for criu; cap_sys_admin for the helper's
# private tmpfs, PID and mount namespaces and for criu restoring a terminal;
# cap_sys_chroot to enter a job's mount namespace (setns); cap_audit_write for
# the helper's own audit records; cap_net_admin to bring up the loopback of the
# network namespace of a `run --private-network` job (never handed to criu). No cap_sys_ptrace: see README, "Capabilities".
set -eu

prefix=/usr/local
criu=
group=
binary=.build/release/criu-helper
caps=cap_net_admin,cap_sys_chroot,cap_sys_admin,cap_audit_write,cap_checkpoint_restore+p

die() { echo "setcap.sh: $*" >&2; exit "${2:-64}"; }

while [ $# -gt 0 ]; do
	case $1 in
	--prefix) [ $# -ge 2 ] || die "--prefix needs a directory"; prefix=$2; shift 2 ;;
	--criu) [ $# -ge 2 ] || die "--criu needs a path"; criu=$2; shift 2 ;;
	--group) [ $# -ge 2 ] || die "--group needs a group name"; group=$2; shift 2 ;;
	--binary) [ $# -ge 2 ] || die "--binary needs a path"; binary=$2; shift 2 ;;
	-h|--help) sed -n '2,15p' "$0"; exit 0 ;;
	*) die "unknown argument: $1" ;;
	esac
done

[ "$(id -u)" = 0 ] || die "must run as root: it installs a binary with file capabilities (try: sudo $0)" 77
case $prefix in /*) ;; *) die "--prefix must be an absolute path" ;; esac
[ -f "$binary" ] || die "no built helper at $binary (build it: swift build -c release --static-swift-stdlib)" 69
command -v setcap >/dev/null || die "setcap not found (apt-get install libcap2-bin)" 69
if [ -n "$group" ]; then
	getent group "$group" >/dev/null || die "no group $group" 64
fi

conf=$prefix/etc/criu-helper.conf
if [ -z "$criu" ]; then
	if [ -f "$conf" ] && grep -q '^criu *=' "$conf"; then
		criu=$(sed -n 's/^criu *= *//p' "$conf" | head -1)
	elif [ -x /opt/criu4/usr/sbin/criu ]; then
		criu=/opt/criu4/usr/sbin/criu
	else
		criu=/usr/sbin/criu
	fi
fi
case $criu in /*) ;; *) die "--criu must be an absolute path" ;; esac

install -d -o root -g root -m 0755 "$prefix/bin" "$prefix/etc"
tmp=$prefix/bin/.criu-helper.new
install -o root -g root -m 0755 "$binary" "$tmp"
if [ -n "$group" ]; then
	chgrp "$group" "$tmp"
	chmod 0750 "$tmp"
fi
setcap "$caps" "$tmp"
mv -f "$tmp" "$prefix/bin/criu-helper"
# The restore check criu runs as its action script: no capabilities of its
# own (criu lends it cap_checkpoint_restore while it runs).
check=$(dirname "$binary")/criu-helper-restore-check
[ -f "$check" ] || die "no built restore check at $check (it is built with the helper)" 69
install -d -o root -g root -m 0755 "$prefix/libexec"
install -o root -g root -m 0755 "$check" "$prefix/libexec/.criu-helper-restore-check.new"
mv -f "$prefix/libexec/.criu-helper-restore-check.new" "$prefix/libexec/criu-helper-restore-check"

if [ -f "$conf" ]; then
	# Keep the administrator's settings; only point it at criu.
	sed -i "s|^criu *=.*|criu = $criu|" "$conf"
	grep -q '^criu *=' "$conf" || echo "criu = $criu" >>"$conf"
else
	cat >"$conf" <<CONF
# criu-helper configuration. Must stay owned by root and not writable by
# group or others, as must every directory above it.
#
# criu to run (absolute path; root-owned, as every directory above it).
criu = $criu
# required: a request whose kernel audit record cannot be written is refused.
# best-effort: the request goes on and a warning is printed.
audit = required
# Tasks must have no_new_privs to be checkpointed (jobs started with
# \`criu-helper run\` or \`setpriv --no-new-privs\` have it).
require-no-new-privs = yes
# Good checkpoint generations kept per images directory.
keep = 2
# Seconds a request waits for another one on the same images directory.
lock-timeout = 60
CONF
fi
chown root:root "$conf"
chmod 0644 "$conf"

# The scheduler integrations: scripts that jobs run as their user, no
# privilege of their own. They find this installation's helper from there.
src=$(dirname "$0")/../integrations
if [ -d "$src" ]; then
	share=$prefix/share/criu-helper
	rm -rf "$share.new"
	install -d -o root -g root -m 0755 "$share.new"
	cp -R "$src"/. "$share.new"/
	chown -R root:root "$share.new"
	chmod -R u=rwX,go=rX "$share.new"
	rm -rf "$share"
	mv "$share.new" "$share"
fi

# The man pages and the audit report (root's: it reads auditd's log).
top=$(dirname "$0")/..
for page in "$top"/man/*.[1-8]; do
	[ -f "$page" ] || continue
	section=${page##*.}
	install -d -o root -g root -m 0755 "$prefix/share/man/man$section"
	install -o root -g root -m 0644 "$page" "$prefix/share/man/man$section/"
done
if [ -f "$top/audit/criu-helper-audit" ]; then
	install -d -o root -g root -m 0755 "$prefix/sbin"
	install -o root -g root -m 0755 "$top/audit/criu-helper-audit" "$prefix/sbin/criu-helper-audit"
fi

# Verify what was installed.
got=$(getcap "$prefix/bin/criu-helper" | sed 's/^[^ ]* //')
want=$(echo "$caps" | sed 's/+p$/=p/')
[ "$got" = "$want" ] || die "getcap shows '$got', expected '$want' (does the file system support xattrs?)" 69
echo "installed $prefix/bin/criu-helper ($got), configuration $conf${share:+, integrations in $share}, man pages in $prefix/share/man, $prefix/sbin/criu-helper-audit"
if [ -n "$group" ]; then echo "only members of group $group may run it"; fi
"$prefix/bin/criu-helper" check || die "criu-helper check failed: see above" 69
