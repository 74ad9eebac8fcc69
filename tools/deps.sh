#!/bin/sh
# tools/deps.sh -- install the Debian packages tempera needs, if any are missing.
# Run as root it uses apt-get; otherwise it prints the command to run and fails.
set -eu
pkgs="libluajit-5.1-dev libzstd-dev check libsubunit-dev libopenblas-dev libedit-dev pkg-config python3-numpy python3-zstandard libopenmpi-dev openmpi-bin"
# optional: mandoc lints the man pages, gnuplot draws report pictures
opt="mandoc gnuplot-nox"
missing=""
for p in $pkgs $opt; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
	echo "tempera: missing packages:$missing (no apt-get here: install them by hand)" >&2
	exit 1
fi
if [ "$(id -u)" != 0 ]; then
	echo "tempera: missing packages:$missing" >&2
	echo "tempera: run: sudo apt-get install$missing" >&2
	exit 1
fi
echo "tempera: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >&2
