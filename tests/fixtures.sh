#!/bin/sh
# Test fixtures, as root: users, test programs, and the probe installation.
set -eu
cd "$(dirname "$0")/.."
for u in chuser1 chuser2; do id "$u" >/dev/null 2>&1 || useradd -m -s /bin/bash "$u"; done

# Test programs (tests/support/*.c), root-owned.
bin=/opt/criu-helper-tests/bin
install -d -m 0755 "$bin"
for src in tests/support/*.c; do
	name=$(basename "$src" .c)
	case $name in
	preload-marker) gcc -O2 -Wall -shared -fPIC -o "$bin/$name.so" "$src" ;;
	# Planted as an ELF interpreter: static, position-independent.
	ch-fake-ld) gcc -O2 -Wall -nostdlib -static-pie -fPIE -o "$bin/$name" "$src" ;;
	*) gcc -O2 -Wall -o "$bin/$name" "$src" -lcap -lpthread ;;
	esac
done
# A set-user-ID root program for the "tree with a setuid task" test.
cp /opt/criu-helper-tests/bin/ch-nodump "$bin/ch-setuid-sleeper"
chown root:root "$bin/ch-setuid-sleeper"
chmod 4755 "$bin/ch-setuid-sleeper"

# A second installation whose criu is the probe (records what it is handed).
probe=/opt/criu-helper-probe
install -d -m 0755 "$probe/libexec"
install -m 0755 "$bin/criu-probe" "$probe/libexec/criu-probe"
install/setcap.sh --prefix "$probe" --criu "$probe/libexec/criu-probe" >/dev/null 2>&1 || true
sed -i 's/^lock-timeout *=.*/lock-timeout = 2/' "$probe/etc/criu-helper.conf"
# A probe that hangs (mode "hang") must be ended by criu-timeout.
grep -q '^criu-timeout' "$probe/etc/criu-helper.conf" || echo 'criu-timeout = 5' >>"$probe/etc/criu-helper.conf"
getcap "$probe/bin/criu-helper" | grep -q cap_checkpoint_restore || { echo "fixtures: probe install failed" >&2; exit 1; }
# A third installation, real criu, at a site that allows multi-threaded
# tasks: the tests show with it why the default refuses them.
threads=/opt/criu-helper-threads
install/setcap.sh --prefix "$threads" >/dev/null 2>&1 || true
grep -q '^multi-threaded' "$threads/etc/criu-helper.conf" || echo 'multi-threaded = allow' >>"$threads/etc/criu-helper.conf"
sed -i 's/^lock-timeout *=.*/lock-timeout = 3/' "$threads/etc/criu-helper.conf"
getcap "$threads/bin/criu-helper" | grep -q cap_checkpoint_restore || { echo "fixtures: threads install failed" >&2; exit 1; }
echo ok >/etc/criu-probe.mode
chmod 0644 /etc/criu-probe.mode
sed -i 's/^lock-timeout *=.*/lock-timeout = 3/' /usr/local/etc/criu-helper.conf
echo "fixtures ready"
