# kiemphieu — two entry points for a fresh Debian machine (run as root):
#   make demo   install everything, then run the whole job on the bundled example
#   make test   install everything, then run linters, type checks and the test suite
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
APT_PACKAGES := python3 python3-venv python3-pip tesseract-ocr tesseract-ocr-vie \
	poppler-utils fonts-dejavu-core chromium
STAMP_APT := $(VENV)/.apt-done
STAMP_PIP := $(VENV)/.pip-done

.PHONY: demo test install lint check bench clean

install: $(STAMP_PIP)

$(STAMP_APT):
	@if ! dpkg -s $(APT_PACKAGES) >/dev/null 2>&1; then \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get update -q && apt-get install -y -q --no-install-recommends $(APT_PACKAGES); \
	fi
	@mkdir -p $(VENV) && touch $@

$(STAMP_PIP): $(STAMP_APT) pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@touch $@

demo: install
	$(VENV)/bin/kiemphieu demo demo-workspace --persons fixtures/example_persons.csv --replace

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

test: install lint
	$(VENV)/bin/python -m pytest -q -p no:cacheprovider

bench: install
	$(PY) bench/speed.py --pages 1000
	$(PY) bench/accuracy.py --pages 3000

clean:
	rm -rf $(VENV) demo-workspace build *.egg-info
