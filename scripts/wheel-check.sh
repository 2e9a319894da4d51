#!/usr/bin/env bash
# A normal (non-editable) install works like the checkout: build the wheel, install it in a fresh venv, run
# the unit tests against the installed files and one real up / failover / down of the shipped default lab
# from an empty directory.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d /var/tmp/labctl-wheel.XXXXXX)
trap 'rm -rf "$work"' EXIT
# from a clean export of the commit (a build/ directory left by an earlier build can carry stale modules)
mkdir "$work/src"
git archive HEAD | tar -x -C "$work/src"
.venv/bin/pip wheel -q --no-deps -w "$work/dist" "$work/src"
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install -q "$work"/dist/labctl-*.whl pytest hypothesis scapy
site=$(cd "$work" && "$work/venv/bin/python" -c 'import labctl, pathlib; print(pathlib.Path(labctl.__file__).resolve().parent)')
case "$site" in */site-packages/labctl) ;; *) echo "labctl imported from $site, not the wheel"; exit 1 ;; esac
# the tests beside the installed package: labctl/ (and the topologies/matrices links) point into site-packages
mkdir "$work/tree"
cp -r tests docs docker-compose.yml pyproject.toml "$work/tree/"
ln -s "$site" "$work/tree/labctl"
ln -s labctl/topologies "$work/tree/topologies"
ln -s labctl/matrices "$work/tree/matrices"
(cd "$work/tree" && "$work/venv/bin/pytest" -q -p no:cacheprovider -m "not docker" tests/unit)
mkdir "$work/empty"
cd "$work/empty"
"$work/venv/bin/labctl" up dual-interface
"$work/venv/bin/labctl" failover dual
"$work/venv/bin/labctl" down dual-interface
test -z "$(docker ps -aq --filter label=labctl.lab=dual)"
echo "wheel check: unit tests, up, failover, down passed from the installed wheel"
