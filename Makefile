# Two entry points for a fresh machine (see README):
#   make book   build the HTML book into _build/html, executing every chapter
#   make test   run every test: lsmath unit/property tests, strict nbval over
#               every chapter run the way Colab would, and the -W book build
# Each creates the virtual environment it needs (.venv, or VENV=...).

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# The HTML lands in $(OUT)/_build/html (OUT=. gives _build/html).
OUT ?= .
JB_FLAGS := -W -n --keep-going
# Idle OpenMP threads sleep instead of spinning: on a busy 2-core machine
# spinning torch threads cost several times the CPU time.
export OMP_WAIT_POLICY ?= PASSIVE

CHAPTERS := $(sort $(wildcard chapters/[0-9][0-9]_*.ipynb))

.PHONY: venv book test unit notebooks book-check browser-check linkcheck sync-setup clean

$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -r requirements.txt
	touch $@

venv: $(VENV)/.installed

# Readers' build: executes every chapter (execute_notebooks: force in
# _config.yml); PYTHONPATH lets the kernels and autodoc import this lsmath.
book: venv
	PYTHONPATH=$(CURDIR) $(VENV)/bin/jupyter-book build . $(JB_FLAGS) --path-output $(OUT)

# Unit, property and SymPy tests of lsmath, its docstring examples, and checks
# of the book sources.
unit: venv
	$(VENV)/bin/pytest -q -p no:cacheprovider --doctest-modules tests lsmath --ignore=tests/browser

# Strict nbval over every chapter, each run the Colab way: copied alone into an
# empty folder, with lsmath installed only by the chapter's own setup cell
# (from a wheel built here). NB=chapters/xx.ipynb runs one chapter.
notebooks: venv
	$(PY) tests/run_notebooks.py --venv $(VENV) $(if $(NB),$(NB),$(CHAPTERS))

# Build the HTML from the outputs that strict nbval has just verified
# (no second execution), with warnings as errors.
CI_CONFIG := $(OUT)/_build/_config_ci.yml
$(CI_CONFIG): _config.yml
	mkdir -p $(dir $@)
	sed 's/execute_notebooks: force/execute_notebooks: "off"/' $< > $@

book-check: venv $(CI_CONFIG)
	PYTHONPATH=$(CURDIR) $(VENV)/bin/jupyter-book build . $(JB_FLAGS) --config $(CI_CONFIG) --path-output $(OUT)

# Open built pages in headless Chromium: typeset math, figures, Colab button.
browser-check: venv
	BOOK_HTML=$(OUT)/_build/html $(VENV)/bin/pytest -q -p no:cacheprovider tests/browser

test: unit notebooks book-check browser-check

# External links (needs network; not run in CI).
linkcheck: venv $(CI_CONFIG)
	$(VENV)/bin/jupyter-book build . --builder linkcheck --config $(CI_CONFIG) --path-output $(OUT)

sync-setup: venv
	$(PY) tools/sync_setup_cells.py

clean:
	rm -rf _build dist *.egg-info
