#!/bin/sh
# Install the scanner daemon as a systemd service, from this checkout. Run as root:
#   sudo systemd/install.sh            (PREFIX=/opt/other sudo -E systemd/install.sh to move it)
# Safe to run again to update: the code and the unit are replaced, /etc/scanner/scanner.toml is
# kept. Needs python3 with venv (Debian: apt install python3-venv).
set -eu

PREFIX="${PREFIX:-/opt/scanner}"
PYTHON="${PYTHON:-python3}"
SRC=$(cd "$(dirname "$0")/.." && pwd)
CONF_DIR=/etc/scanner
STATE_DIR=/var/lib/scanner

say() { printf 'install.sh: %s\n' "$*"; }

if [ "$(id -u)" -ne 0 ]; then
    say "run as root" >&2
    exit 1
fi

# 1. The service user; the hardware groups it joins are those this system has.
if ! id -u scanner >/dev/null 2>&1; then
    say "creating system user scanner"
    useradd --system --user-group --home-dir "$STATE_DIR" --no-create-home \
        --shell /usr/sbin/nologin scanner
fi
for group in dialout gpio video plugdev; do
    if getent group "$group" >/dev/null 2>&1; then
        usermod -a -G "$group" scanner
    else
        say "no group $group here; skipped"
    fi
done

# 2. The code, owned by root (the daemon only reads it), and its virtual environment.
if [ "$SRC" != "$PREFIX" ]; then
    say "copying $SRC to $PREFIX"
    mkdir -p "$PREFIX"
    tar -C "$SRC" \
        --exclude=./.git --exclude=./.venv --exclude=./out --exclude=./build --exclude=./dist \
        --exclude=__pycache__ --exclude='*.egg-info' --exclude=.pytest_cache \
        --exclude=.ruff_cache --exclude=.hypothesis \
        -cf - . | tar -C "$PREFIX" -xf -
fi
if [ ! -x "$PREFIX/.venv/bin/python" ]; then
    say "creating $PREFIX/.venv"
    "$PYTHON" -m venv "$PREFIX/.venv"
fi
say "installing the package into $PREFIX/.venv"
"$PREFIX/.venv/bin/pip" install --quiet "$PREFIX"
# numba keys its cached kernels on each file's own timestamp, not on the helpers it inlined
# from other files: drop them with every update, the daemon compiles afresh at its next start
rm -rf /var/cache/scanner/numba

# 3. The configuration: an example on first install, readable by the service (it holds the
#    API token), never overwritten.
install -d -m 0755 "$CONF_DIR"
if [ ! -e "$CONF_DIR/scanner.toml" ]; then
    say "installing $CONF_DIR/scanner.toml (edit it, then: systemctl restart scanner)"
    install -m 0640 -o root -g scanner "$SRC/systemd/scanner.toml.example" "$CONF_DIR/scanner.toml"
fi

# 4. The unit (pointed at PREFIX), the udev rule for the IMU and the polkit rule for power-off.
sed "s#/opt/scanner#$PREFIX#g" "$SRC/systemd/scanner.service" >/etc/systemd/system/scanner.service
chmod 0644 /etc/systemd/system/scanner.service
install -m 0644 "$SRC/systemd/99-scanner-imu.rules" /etc/udev/rules.d/99-scanner-imu.rules
if [ -d /etc/polkit-1 ] || [ -d /usr/share/polkit-1 ]; then
    install -d -m 0755 /etc/polkit-1/rules.d
    install -m 0644 "$SRC/systemd/50-scanner-poweroff.rules" \
        /etc/polkit-1/rules.d/50-scanner-poweroff.rules
else
    say "polkit is not installed: the long press cannot power off (apt install polkitd)"
fi

# 5. Load it all and start.
udevadm control --reload
udevadm trigger --subsystem-match=tty --action=add
systemctl daemon-reload
systemctl enable scanner
systemctl restart scanner  # starts it, or restarts it on the new code when updating
say "done: journalctl -u scanner -f"
