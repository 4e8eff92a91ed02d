# Two commands matter (see README.md):
#   make demo   deploy the whole platform onto a local sandbox host and print how to reach it
#   make test   every check: lint, sanity, unit tests, every Molecule scenario
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV        := .venv
# ansible-core 2.21 needs Python >= 3.12; pyenv's 3.13 is on our machines.
PYTHON_BOOT ?= $(shell (pyenv prefix 3.13.0 2>/dev/null || pyenv prefix 3.12.1 2>/dev/null) | sed 's|$$|/bin/python3|' | head -1)
BIN         := $(abspath $(VENV))/bin
export PATH := $(BIN):$(PATH)
# Run Ansible against this checkout as the installed collection prefect_ops.prefect.
COLLECTIONS := $(abspath .cache/collections)
export ANSIBLE_COLLECTIONS_PATH := $(COLLECTIONS):$(abspath $(VENV))/lib/python3.13/site-packages
export ANSIBLE_FORCE_COLOR ?= false
COLLECTION_LINK := $(COLLECTIONS)/ansible_collections/prefect_ops/prefect
# Every scenario under molecule/, unless SCENARIOS=... narrows it.
SCENARIOS   ?= $(patsubst molecule/%/molecule.yml,%,$(wildcard molecule/*/molecule.yml))

.PHONY: help venv host-deps collection demo demo-destroy test lint sanity units images ansible-test-pip installed molecule bench clean

help:
	@echo "make demo    deploy the platform onto a local sandbox host and print how to reach it"
	@echo "make test    lint, ansible-test sanity, unit tests and every Molecule scenario"
	@echo "make bench   the benchmarks of docs/performance.md (not part of make test)"

$(BIN)/ansible: requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON_BOOT) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

venv: $(BIN)/ansible

# System packages and a running Docker engine (needs root; safe to repeat).
host-deps:
	tests/testbed/host-deps.sh

$(COLLECTION_LINK):
	mkdir -p $(dir $@)
	ln -sfn ../../../.. $@

collection: venv $(COLLECTION_LINK)

demo: host-deps collection
	sandbox/demo.sh

demo-destroy: collection
	sandbox/demo.sh destroy

# Every check; the last line printed is the totals of all test reports. The scenarios'
# images build while lint, sanity and the unit tests run (each one's output in one piece).
test: host-deps collection
	rm -rf build/junit
	$(MAKE) -j2 --output-sync=target lint sanity units images
	$(MAKE) molecule
	python tests/report.py build/junit

# Every Prefect image archive the scenarios ask for, built side by side.
images: host-deps collection
	python tests/testbed/prebuild_images.py

lint: collection
	yamllint -s .
	ansible-lint --profile production
	python tools/role_docs.py --check
	antsibull-changelog lint
	# Every plugin's, module's and role's documentation as docs.ansible.com would build it.
	# --skip-rstcheck: the collection ships no reStructuredText (its docs are Markdown).
	cd $(COLLECTION_LINK) && antsibull-docs lint-collection-docs --plugin-docs --skip-rstcheck .

# ansible-test wants the collection at .../ansible_collections/<namespace>/<name>:
# copy the tracked files there so that it sees exactly what a clone holds.
# Each target has its own copy (build/sanity/..., build/units/...): `make -j` runs them side by side.
TEST_ROOT = build/$@/ansible_collections/prefect_ops/prefect
# ansible-test bootstraps pip into the virtual environments it creates for each sanity test with
# a get-pip script from ci-files.testing.ansible.com, which our machines and CI cannot reach
# (only PyPI). When that script is not cached, give it one that does the same with the
# interpreter's own ensurepip and then pip-installs what ansible-test asks for from PyPI.
ANSIBLE_TEST_PIP = $(shell $(BIN)/python -c 'import types; from ansible_test._internal.python_requirements import get_venv_packages; print(get_venv_packages(types.SimpleNamespace(version="3.13"))["pip"])')
ANSIBLE_TEST_GET_PIP = $(HOME)/.ansible/test/cache/get_pip_$(subst .,_,$(ANSIBLE_TEST_PIP)).py
define GET_PIP_SCRIPT
# Stand-in for get-pip.py, written by the prefect_ops.prefect Makefile (see target ansible-test-pip).
import ensurepip, subprocess, sys
ensurepip.bootstrap(upgrade=True)
args = [a for a in sys.argv[1:] if a not in ('--no-setuptools', '--no-wheel')]
sys.exit(subprocess.call([sys.executable, '-m', 'pip', 'install'] + args))
endef
export GET_PIP_SCRIPT

ansible-test-pip: venv
	@test -n "$(ANSIBLE_TEST_PIP)"
	@test -s $(ANSIBLE_TEST_GET_PIP) || { mkdir -p $(dir $(ANSIBLE_TEST_GET_PIP)) && \
	  printf '%s\n' "$$GET_PIP_SCRIPT" > $(ANSIBLE_TEST_GET_PIP).tmp && mv $(ANSIBLE_TEST_GET_PIP).tmp $(ANSIBLE_TEST_GET_PIP) && \
	  echo "wrote $(ANSIBLE_TEST_GET_PIP)"; }

sanity: ansible-test-pip
sanity units: collection
	rm -rf build/$@ && mkdir -p $(TEST_ROOT)
	git ls-files -co --exclude-standard | grep -v '^build/' | tar -cT - | tar -xC $(TEST_ROOT)
	cd $(TEST_ROOT) && git init -q && git add -A
	cd $(TEST_ROOT) && $(if $(filter sanity,$@),ansible-test sanity --python 3.13 --color no,ansible-test units --python 3.13 --color no --requirements)
	$(if $(filter units,$@),mkdir -p build/junit && cp $(TEST_ROOT)/tests/output/junit/*.xml build/junit/)

# One scenario runs from the built tarball installed into an empty collections path,
# as Galaxy users get the collection: a file the artifact leaves out fails it. The
# converge's log must show the roles' task files coming from that installed copy.
INSTALLED_SCENARIO ?= fleet
INSTALLED := $(abspath build/installed)
installed: collection
	rm -rf build/dist $(INSTALLED) && mkdir -p build/dist $(INSTALLED)
	ansible-galaxy collection build --output-path build/dist .
	ANSIBLE_COLLECTIONS_PATH=$(INSTALLED) ansible-galaxy collection install --no-deps --offline --force \
	  -p $(INSTALLED) build/dist/prefect_ops-prefect-*.tar.gz

# Scenarios whose checks measure nothing in time run side by side, started a minute
# apart (their first host creates the test bed's network), each into its own log, printed
# when all are done; the others, which measure failovers and outages, run alone after.
PARALLEL_SCENARIOS ?= adopt default roles
molecule: collection $(if $(filter $(INSTALLED_SCENARIO),$(SCENARIOS)),installed)
	mkdir -p build
	pids=(); for s in $(filter $(PARALLEL_SCENARIOS),$(SCENARIOS)); do \
	  [ $${#pids[@]} = 0 ] || sleep 60; \
	  molecule test -s $$s > build/molecule-$$s.log 2>&1 & pids+=($$!); \
	done; \
	failed=0; for pid in "$${pids[@]}"; do wait $$pid || failed=1; done; \
	for s in $(filter $(PARALLEL_SCENARIOS),$(SCENARIOS)); do cat build/molecule-$$s.log; done; \
	[ $$failed = 0 ]
	set -o pipefail; for s in $(filter-out $(PARALLEL_SCENARIOS),$(SCENARIOS)); do \
	  if [ $$s = $(INSTALLED_SCENARIO) ]; then \
	    ANSIBLE_COLLECTIONS_PATH=$(INSTALLED):$(abspath $(VENV))/lib/python3.13/site-packages \
	      molecule test -s $$s 2>&1 | tee build/molecule-$$s.log || exit 1; \
	    grep -q 'included: $(INSTALLED)/ansible_collections/prefect_ops/prefect/roles/' build/molecule-$$s.log \
	      || { echo "$$s did not run from the installed tarball"; exit 1; }; \
	  else molecule test -s $$s || exit 1; fi; \
	done

# Every benchmarks/bench_*.py in turn: each prints its table and writes build/bench/<name>.json.
# Not part of `make test`: figures come from benchmarks, never from timed tests.
bench: host-deps collection
	mkdir -p build/bench
	for b in benchmarks/bench_*.py; do python $$b --json build/bench/$$(basename $$b .py).json || exit 1; done

clean:
	rm -rf build .cache/collections
