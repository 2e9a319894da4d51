#!/bin/sh
# Install the packages of a list (one per line, `#` comments) that the base image lacks: nothing on the
# offline debootstrap base, everything on debian:bookworm-slim. Shared by the node and host images.
set -eu
missing=""
for p in $(sed 's/#.*//' "$1"); do
    dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null | grep -q '^ii' || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "installing:$missing"
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing
    rm -rf /var/lib/apt/lists/*
fi
rm "$1"
