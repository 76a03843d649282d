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

.PHONY: venv book test lint unit notebooks nbval-dev execute portability lock pdf book-check browser-check linkcheck sync-setup clean

# The venv installs the locked environment (requirements.lock: every package
# pinned, compiled from requirements.txt; refresh on purpose with `make lock`).
$(VENV)/.installed: requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -r requirements.lock
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
# The stored outputs were made with 1 thread; this run uses 2 (another numeric
# path: every training run changes), so an experiment's asserted conclusions
# must hold on a machine other than the one that stored them.
# Two chapters run at a time (CHECK_JOBS), each in its own light environment.
CHECK_THREADS ?= 2
CHECK_JOBS ?= 2
notebooks: venv
	LSMATH_NUM_THREADS=$(CHECK_THREADS) $(PY) tests/run_notebooks.py --venv $(VENV) --jobs $(CHECK_JOBS) $(if $(NB),$(NB),$(CHAPTERS))

# Authors' quick loop: strict nbval of NB with this checkout on PYTHONPATH
# (no wheel, no uninstall), under the check's thread count.
nbval-dev: venv
	PYTHONPATH=$(CURDIR) LSMATH_NUM_THREADS=$(CHECK_THREADS) $(VENV)/bin/pytest -q -p no:cacheprovider --nbval $(if $(NB),$(NB),$(CHAPTERS))

# Execute chapters in place to store their outputs (1 thread, this machine's
# kernels) and strip execution metadata. NB=... for one chapter.
execute: venv
	$(PY) tools/run_chapter.py $(if $(NB),$(NB),$(CHAPTERS))

# Every chapter under each numeric path {default, avx2 kernels} x {1, 2 threads};
# prints which chapters (and asserts) fail under which path. Slow (the
# unvectorised kernels cost 2-4x): not part of `make test`.
portability: venv
	$(PY) tests/portability.py --venv $(VENV) $(if $(NB),$(NB),$(CHAPTERS))

# Recompile the lock from the loose list (on purpose, never by accident).
lock:
	$(PYTHON) -m pip install -q uv
	$(PYTHON) -m uv pip compile requirements.txt --python-version 3.11 --find-links /opt/wheels -o requirements.lock

# Build the HTML from the outputs that strict nbval has just verified
# (no second execution), with warnings as errors.
CI_CONFIG := $(OUT)/_build/_config_ci.yml
$(CI_CONFIG): _config.yml
	mkdir -p $(dir $@)
	sed -e 's/execute_notebooks: force/execute_notebooks: "off"/' \
	    -e 's|bibstyle_authoryear: tools/|bibstyle_authoryear: $(CURDIR)/tools/|' $< > $@

book-check: venv $(CI_CONFIG)
	PYTHONPATH=$(CURDIR) $(VENV)/bin/jupyter-book build . $(JB_FLAGS) --config $(CI_CONFIG) --path-output $(OUT)

# Open built pages in headless Chromium: typeset math, figures, Colab button.
browser-check: venv
	BOOK_HTML=$(OUT)/_build/html $(VENV)/bin/pytest -q -p no:cacheprovider tests/browser

# Lint: one line length (pyproject.toml) for lsmath, tests, tools, benchmarks
# and the chapters' code cells (ruff reads notebooks itself), and no execution
# metadata in the notebooks (a test in tests/test_book_sources.py); mypy
# type-checks lsmath (configured in pyproject.toml).
LINT_PATHS := lsmath tests tools benchmarks chapters
lint: venv
	$(VENV)/bin/ruff check $(LINT_PATHS)
	$(VENV)/bin/ruff format --check $(LINT_PATHS)
	$(VENV)/bin/mypy

test: lint unit notebooks book-check browser-check

# Whole-book PDF with Jupyter Book's LaTeX builder (XeLaTeX; needs Debian's
# texlive-xetex texlive-latex-extra latexmk texlive-lang-chinese fonts-noto-cjk,
# and texlive-fonts-recommended, which apt adds as a recommended package),
# from the stored outputs. Lands in $(OUT)/_build/latex/ and, when the HTML book
# exists, beside it as _build/html/label-smoothing-derived.pdf (the preface links it).
# The PDF build's config is the CI one plus a LaTeX-only local extension
# (tools/latex_book.py: "Exercise 2.6", not "Exercise ??", in references; long
# tables that wrap; the book's parts and appendices).
PDF_NAME := label-smoothing-derived.pdf
PDF_CONFIG := $(OUT)/_build/_config_pdf.yml
$(PDF_CONFIG): $(CI_CONFIG)
	sed -e '/^  local_extensions:$$/a\    latex_book: $(CURDIR)/tools/' $< > $@.tmp
	grep -q 'latex_book:' $@.tmp && mv $@.tmp $@

pdf: venv $(PDF_CONFIG)
	PYTHONPATH=$(CURDIR) $(VENV)/bin/jupyter-book build . --builder pdflatex --config $(PDF_CONFIG) --path-output $(OUT)
	if [ -d $(OUT)/_build/html ]; then cp $(OUT)/_build/latex/$(PDF_NAME) $(OUT)/_build/html/; fi

# External links (needs network; not run in CI).
linkcheck: venv $(CI_CONFIG)
	$(VENV)/bin/jupyter-book build . --builder linkcheck --config $(CI_CONFIG) --path-output $(OUT)

sync-setup: venv
	$(PY) tools/sync_setup_cells.py

clean:
	rm -rf _build dist *.egg-info
