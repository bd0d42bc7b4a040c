# Two entry points for a fresh machine with Python 3.11 and pip:
#   make run    - create .venv, install poissonfp, solve cases/2d_square.toml
#   make test   - create .venv, install poissonfp with test extras, run the test suite
# and two more that CI runs after them:
#   make check          - ruff and mypy (settings in pyproject.toml)
#   make install-check  - `pip install .` (not editable) into a fresh venv, then `poissonfp cases` and a
#                         small solve of a shipped case by name from an empty folder
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CASE ?= cases/2d_square.toml

.PHONY: run test install check install-check clean

$(BIN)/poissonfp: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(BIN)/poissonfp

run: install
	$(BIN)/poissonfp solve $(CASE)

test: install
	$(BIN)/python -m pytest -q

check: install
	$(BIN)/ruff check poissonfp tests
	$(BIN)/mypy

install-check:
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	$(PYTHON) -m venv "$$tmp/venv" && \
	"$$tmp/venv/bin/pip" install --quiet . && \
	mkdir "$$tmp/empty" && cd "$$tmp/empty" && \
	"$$tmp/venv/bin/poissonfp" cases && \
	"$$tmp/venv/bin/poissonfp" solve 2d_square --n 16 --quiet --out "$$tmp/out" && \
	test -s "$$tmp/out/result.json" && ! ls -A | grep -q . && \
	echo "install-check: non-editable install solved 2d_square by name from an empty folder"

clean:
	rm -rf $(VENV) results bench-results build
