#!/bin/sh
# Install the Debian packages det needs to build and test, when missing.
# Runs as root, or through sudo otherwise.  Quiet when nothing is missing.
set -e
pkgs="gcc make pkg-config libseccomp-dev libxxhash-dev check libsubunit-dev
libelf-dev libdw-dev libjemalloc2
libsodium-dev liblz4-dev iproute2 procps bc bzip2 xz-utils ninja-build cmake"
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "deps: installing$missing"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq $missing >/dev/null
