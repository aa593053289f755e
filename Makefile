# gridmap: two commands on a fresh Debian machine.
#   make demo   install what is missing, start the embedded PostGIS, migrate, load the demo, serve
#   make test   the same set-up, then the whole test suite
# Every step is idempotent: a second run reuses what is there.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.gridmap-installed
HOST   ?= 127.0.0.1
PORT   ?= 5000

.PHONY: demo test system-deps browser-deps venv db lint bench clean-db

demo: system-deps venv db
	$(BIN)/gridmap demo
	$(BIN)/gridmap serve --host $(HOST) --port $(PORT)

test: system-deps browser-deps venv db
	$(BIN)/ruff check gis web tests benchmarks
	$(BIN)/pytest -q

system-deps:
	@scripts/install-system-deps.sh

browser-deps:
	@scripts/install-system-deps.sh --browser

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $(STAMP)

db: venv
	$(BIN)/gridmap db up
	$(BIN)/gridmap db migrate

lint: venv
	$(BIN)/ruff check gis web tests benchmarks

# speed, measured outside the test suite (see benchmarks/README.md)
bench: system-deps venv db
	$(BIN)/python benchmarks/coverage.py

clean-db: venv
	-$(BIN)/gridmap db down
	rm -rf var/pg
