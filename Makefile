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
SCENARIOS   ?= default

.PHONY: help venv host-deps collection demo demo-destroy test lint sanity units molecule clean

help:
	@echo "make demo    deploy the platform onto a local sandbox host and print how to reach it"
	@echo "make test    lint, ansible-test sanity, unit tests and every Molecule scenario"

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

test: host-deps collection lint sanity units molecule

lint: collection
	yamllint -s .
	ansible-lint --profile production

# ansible-test wants the collection at .../ansible_collections/<namespace>/<name>:
# copy the tracked files there so that it sees exactly what a clone holds.
SANITY_ROOT := build/ansible_collections/prefect_ops/prefect
sanity units: collection
	rm -rf build && mkdir -p $(SANITY_ROOT)
	git ls-files -co --exclude-standard | grep -v '^build/' | tar -cT - | tar -xC $(SANITY_ROOT)
	cd $(SANITY_ROOT) && git init -q && git add -A
	cd $(SANITY_ROOT) && $(if $(filter sanity,$@),ansible-test sanity --python 3.13 --color no,ansible-test units --python 3.13 --color no --requirements)

molecule: collection
	for s in $(SCENARIOS); do molecule test -s $$s || exit 1; done

clean:
	rm -rf build .cache/collections
