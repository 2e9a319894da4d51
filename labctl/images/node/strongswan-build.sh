#!/bin/sh
# Build stage of labctl/node: Debian's own strongswan source package (bookworm main, the release of the
# binaries in the image) with strongswan-replay.patch and strongswan-ha-resync.patch, building only libipsec, the
# kernel-libipsec plugin and the ha plugin (libstrongswan only to link them). The results land in /out with the paths of Debian's binary
# package, which the final stage copies over. About 3-4 minutes on 2 cores; Docker caches the stage
# until this script or the patch changes.
set -eu
export DEBIAN_FRONTEND=noninteractive
# deb-src for bookworm main with the URI (and keyring) of the binary entry: the debootstrap base has a
# one-line sources.list, debian:bookworm-slim a deb822 debian.sources
if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    uri=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources | head -n1)
    key=$(sed -n 's/^Signed-By: *//p' /etc/apt/sources.list.d/debian.sources | head -n1)
    printf 'Types: deb-src\nURIs: %s\nSuites: bookworm\nComponents: main\n%s\n' "$uri" \
        "${key:+Signed-By: $key}" > /etc/apt/sources.list.d/labctl-src.sources
else
    uri=$(awk '$1 == "deb" && $3 == "bookworm" {print $2; exit}' /etc/apt/sources.list)
    echo "deb-src $uri bookworm main" > /etc/apt/sources.list.d/labctl-src.list
fi
# the mirror's name server has been seen failing for a moment mid-build: retry each download a few times
retry() { for i in 1 2 3 4; do "$@" && return 0; echo "retrying: $*"; sleep $((i * 5)); done; "$@"; }
retry apt-get -q -o Acquire::Retries=3 update
retry apt-get -q -o Acquire::Retries=3 install -y --no-install-recommends \
    build-essential pkg-config libgmp-dev libssl-dev libcap-dev dpkg-dev
mkdir -p /build && cd /build
retry apt-get -q -o Acquire::Retries=3 source strongswan
cd strongswan-5.9.8
patch -p1 < /tmp/strongswan-replay.patch
patch -p1 < /tmp/strongswan-ha-resync.patch
# Debian's CONFIGUREARGS (debian/rules) without the plugins needing extra -dev packages (curl, ldap, gcrypt,
# tss2, pam, nm, systemd, connmark/forecast): plugins only; what shapes the structures the two rebuilt
# objects see (mediation's fields in daemon_t, ikev1/ikev2, the paths) is as Debian builds it
./configure --prefix=/usr --sysconfdir=/etc --libdir=/usr/lib --libexecdir=/usr/lib \
  --enable-addrblock --enable-agent --enable-bypass-lan --enable-ccm --enable-certexpire --enable-chapoly \
  --enable-cmd --enable-ctr --enable-eap-aka --enable-eap-gtc --enable-eap-identity --enable-eap-md5 \
  --enable-eap-mschapv2 --enable-eap-radius --enable-eap-tls --enable-eap-tnc --enable-eap-ttls \
  --enable-error-notify --enable-gcm --enable-ha --enable-kernel-libipsec \
  --enable-led --enable-lookip --enable-mediation --enable-openssl --enable-pkcs11 --enable-test-vectors \
  --enable-unity --enable-xauth-eap --disable-blowfish --disable-fast --disable-des \
  --enable-rdrand --enable-aesni --enable-farp --enable-dhcp --enable-af-alg \
  --enable-swanctl --with-capabilities=libcap > /build/configure.log
make -s -j2 -C src/libstrongswan libstrongswan.la > /dev/null  # the library only, none of its plugins
make -s -j2 -C src/libipsec > /dev/null
make -s -j2 -C src/libcharon/plugins/kernel_libipsec > /dev/null
make -s -j2 -C src/libcharon/plugins/ha > /dev/null
# quiet (libtool echoes every compile; warnings and errors still show); install (libtool relinks with Debian's RUNPATH /usr/lib/ipsec), then keep only the three objects
make -s -C src/libipsec install DESTDIR=/build/inst > /dev/null
make -s -C src/libcharon/plugins/kernel_libipsec install DESTDIR=/build/inst > /dev/null
make -s -C src/libcharon/plugins/ha install DESTDIR=/build/inst > /dev/null
mkdir -p /out/usr/lib/ipsec/plugins
cp /build/inst/usr/lib/ipsec/libipsec.so.0.0.0 /out/usr/lib/ipsec/
cp /build/inst/usr/lib/ipsec/plugins/libstrongswan-kernel-libipsec.so /build/inst/usr/lib/ipsec/plugins/libstrongswan-ha.so \
   /out/usr/lib/ipsec/plugins/
strip --strip-unneeded /out/usr/lib/ipsec/libipsec.so.0.0.0 /out/usr/lib/ipsec/plugins/libstrongswan-kernel-libipsec.so \
   /out/usr/lib/ipsec/plugins/libstrongswan-ha.so
dpkg-parsechangelog -S Version > /out/usr/lib/ipsec/labctl-replay-patch.version
