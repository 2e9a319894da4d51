#!/usr/bin/env bash
# Host packages labctl uses, installed only when missing (Debian/Ubuntu, as root):
#   debootstrap  the offline base image when no registry serves debian:bookworm-slim
#   iptables     per-lab DOCKER-USER rules (lab networks stay internal)
#   tshark       packet captures in the container tests (HSRP on the wire)
#   graphviz     `labctl graph --format svg|png`
#   openssh-server  the remote-engine container test (tests/container/test_remote.py: sshd on 127.0.0.1)
# Usage: scripts/host-deps.sh [PACKAGE ...]   (default: all of the above)
set -euo pipefail
declare -A command_of=([debootstrap]=debootstrap [iptables]=iptables [tshark]=tshark [graphviz]=dot
                       [openssh-server]=/usr/sbin/sshd)
wanted=("$@")
[ ${#wanted[@]} -gt 0 ] || wanted=(debootstrap iptables tshark graphviz openssh-server)
need=()
for pkg in "${wanted[@]}"; do
  command -v "${command_of[$pkg]:-$pkg}" >/dev/null || need+=("$pkg")
done
[ ${#need[@]} -gt 0 ] || exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "labctl needs: ${need[*]} (install them with your package manager, as root)" >&2
  exit 1
fi
echo "installing host packages: ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections || true
apt-get update -qq
apt-get install -y -qq "${need[@]}" >/dev/null
