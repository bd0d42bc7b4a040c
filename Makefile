# Two entry points for a fresh machine with Python 3.11 and pip:
#   make run    - create .venv, install poissonfp, solve cases/2d_square.toml
#   make test   - create .venv, install poissonfp with test extras, run the test suite
# and two more that CI runs after them:
#   make check          - ruff and mypy (settings in pyproject.toml)
#   make install-check  - `pip install .` (not editable) into a fresh venv, then `poissonfp cases` and a
#                         small solve of a shipped case by name from an empty folder
# and one optional:
#   make mpi            - add the MPI stack for `--backend petsc` to .venv (root, Debian/Ubuntu: apt packages
#                         petsc-dev and libopenmpi-dev, then mpi4py and a pip build of petsc4py against them)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CASE ?= cases/2d_square.toml

.PHONY: run test install check install-check mpi clean

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

# petsc4py has no wheel: it is built against the system PETSc (3.18.5 on Debian bookworm), which pins
# petsc4py to the same version; setuptools >= 70 breaks that build at its link step, and its metadata step
# needs the wheel package (setuptools goes back to >= 77, torch's requirement, afterwards). One compile job (MAKEFLAGS) keeps a shared machine usable.
PETSC_DIR ?= /usr/lib/petsc
PETSC4PY ?= petsc4py==3.18.5
mpi: install
	@command -v apt-get >/dev/null || { echo "make mpi: needs apt-get (Debian/Ubuntu); install PETSc and an MPI, then petsc4py with PETSC_DIR set"; exit 2; }
	apt-get install -y -q petsc-dev libopenmpi-dev || { apt-get update -q && apt-get install -y -q petsc-dev libopenmpi-dev; }
	$(BIN)/pip install --quiet "setuptools<70" wheel mpi4py
	PETSC_DIR=$(PETSC_DIR) MAKEFLAGS=-j1 $(BIN)/pip install --quiet --no-build-isolation $(PETSC4PY)
	$(BIN)/pip install --quiet "setuptools>=77"  # back to what torch declares, once petsc4py is built
	$(BIN)/python -c "from petsc4py import PETSc; from mpi4py import MPI; print('make mpi: PETSc', PETSc.Sys.getVersion(), 'over', MPI.Get_library_version().split(',')[0])"

clean:
	rm -rf $(VENV) results bench-results build
