# Two entry points for a fresh machine with Python 3.11 and pip:
#   make run    - create .venv, install poissonfp, solve cases/2d_square.toml
#   make test   - create .venv, install poissonfp with test extras, run the test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CASE ?= cases/2d_square.toml

.PHONY: run test install clean

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

clean:
	rm -rf $(VENV) results bench-results
