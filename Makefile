# One command each: `make up` (set up + run the default lab), `make test` (unit + container tests).
VENV ?= .venv
PY := $(VENV)/bin/python
LABCTL := $(VENV)/bin/labctl
TOPOLOGY ?= topologies/dual-interface.yaml

.PHONY: host-deps setup images up down status test unit docker-test lint bench clean matrix matrix-quick compose demo demo-env mutation

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[test,remote]'
	touch $@

setup: $(VENV)/.installed

# no registry and no debootstrap: install debootstrap first (the offline base image needs it)
images: setup
	@command -v debootstrap >/dev/null || docker image inspect debian:bookworm-slim >/dev/null 2>&1 \
	  || docker pull -q debian:bookworm-slim >/dev/null 2>&1 || scripts/host-deps.sh debootstrap iptables
	$(LABCTL) images build

host-deps:
	scripts/host-deps.sh

up: images
	$(LABCTL) up $(TOPOLOGY)
	$(LABCTL) status $(TOPOLOGY)

down: setup
	$(LABCTL) down $(TOPOLOGY)

status: setup
	$(LABCTL) status $(TOPOLOGY)

test: images
	$(VENV)/bin/pytest --durations=15

unit: setup
	$(VENV)/bin/pytest -m "not docker"

docker-test: images
	$(VENV)/bin/pytest -m docker

lint: setup
	$(VENV)/bin/ruff check labctl tests bench

bench: images
	$(PY) bench/bench_lab.py

clean:
	rm -rf $(VENV) out reports

# failover matrix (see matrices/): the CI subset takes ~2 min, the full one (45 cells) 9 min with --jobs 3 here
matrix-quick: images
	$(LABCTL) matrix matrices/quick.yaml --out reports/matrix-quick

matrix: images
	$(LABCTL) matrix matrices/default.yaml --jobs 3 --out reports/matrix-default

# the compose demo's secrets (PSK, SSO key): random, in .env (not committed); then `docker-compose up -d`
demo-env:
	scripts/demo-env.sh

demo: images demo-env
	docker-compose up -d

# regenerate the top-level demo compose file after changing the default topology or the templates
compose: setup
	$(LABCTL) render $(TOPOLOGY) --compose --out docker-compose.yml

# mutation-test the judges (issue 12): `make mutation` mutates the pure verdict, judge, budget, event, probe-joining,
# convergence and SSO-policy code (pyproject [tool.mutmut]) in mutants/, runs their unit tests against every mutant
# (one worker, nice 19: no Docker, a few minutes) and prints killed/survived per module; fails below 90 % killed
mutation: setup
	rm -rf mutants && mkdir -p out
	nice -n 19 $(VENV)/bin/mutmut run --max-children 1 > out/mutation-run.log 2>&1 || (tail -20 out/mutation-run.log; false)
	$(PY) scripts/mutation.py
