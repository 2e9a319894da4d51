#!/bin/sh
# Install the packages of a list (one per line, `#` comments) that the base image lacks: nothing on the
# offline debootstrap base, everything on debian:bookworm-slim. Shared by the node and host images.
#
# install-missing.sh LIST [IGNORED_DEPENDS]: with IGNORED_DEPENDS (dpkg's `--ignore-depends` list, e.g.
# perl:any,perl) the list's packages are fetched with `apt-get download` and installed with
# `dpkg -i --ignore-depends=IGNORED_DEPENDS`, their other dependencies with apt. For packages whose
# dependency only serves a part the lab never runs (vpnc needs perl only for pcf2vpnc).
set -eu
missing=""
for p in $(sed 's/#.*//' "$1"); do
    dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null | grep -q '^ii' || missing="$missing $p"
done
ignored="${2:-}"
if [ -n "$missing" ]; then
    echo "installing:$missing${ignored:+ (ignoring dependencies on $ignored)}"
    apt-get update
    if [ -z "$ignored" ]; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing
    else
        skip=" $(echo "$ignored" | tr ',' ' ') $missing "
        deps=""
        for d in $(apt-cache depends --no-recommends --no-suggests --no-conflicts --no-breaks --no-replaces \
                   --no-enhances $missing | awk '$1 == "Depends:" || $1 == "PreDepends:" {print $2}' | sort -u); do
            case "$d" in "<"*) continue ;; esac
            case "$skip" in *" $d "*) continue ;; esac
            deps="$deps $d"
        done
        [ -z "$deps" ] || DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $deps
        dir=$(mktemp -d)
        (cd "$dir" && apt-get download $missing && dpkg -i --ignore-depends="$ignored" ./*.deb)
        rm -rf "$dir"
    fi
    rm -rf /var/lib/apt/lists/*
fi
rm "$1"
