# inpaintkit: the two commands a new user types are `make reproduce` and `make test`.
# Both create .venv on first use (Python 3.10+ is all that is needed beforehand).

PYTHON  ?= python3
VENV    ?= .venv
PY      := $(VENV)/bin/python
PROFILE ?= quick
RUN_DIR ?= runs/$(PROFILE)
DEVICE  ?= auto
ONLY    ?=
DATA    ?=
TEST_DATA ?=
MASKS   ?=
TEST_MASKS ?=
VGG     ?=
NB      ?= $(wildcard notebooks/[0-9][0-9]_*.ipynb)
# waiting OpenMP threads sleep instead of spinning: with other work on the cores, spinning made a training step ~9x
# slower (inpaintkit/__init__.py); every target below, and the notebooks' kernels, inherit it
export OMP_WAIT_POLICY ?= PASSIVE

.PHONY: help install reproduce rehearse html student lint test test-unit test-notebooks notebook-outputs bench clean

help:
	@echo "make reproduce   run every notebook headless (PROFILE=$(PROFILE)), report under $(RUN_DIR)/"
	@echo "make rehearse    the paper's run (reproduce PROFILE=full) on the CPU, counts shrunk: runs/rehearse/rehearsal.md"
	@echo "make html         the executed notebooks of make reproduce as a static site: $(RUN_DIR)/html/index.html"
	@echo "make student     student versions of the notebooks with exercises (solutions removed) -> student/"
	@echo "make test        ruff, then unit tests + every notebook under nbval (smoke profile)"
	@echo "make lint        ruff check (pyflakes, pycodestyle errors, import order; pyproject.toml)"
	@echo "make bench       speed measurements in benchmarks/"
	@echo "make notebook-outputs NB=notebooks/02_x.ipynb   refresh the kept nbval outputs"

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[test]"
	touch $@

install: $(VENV)/.installed

reproduce: install
	$(PY) -m inpaintkit.reproduce --profile $(PROFILE) --run-dir $(RUN_DIR) --device $(DEVICE) $(if $(ONLY),--only $(ONLY)) \
	  $(if $(DATA),--data $(DATA)) $(if $(TEST_DATA),--test-data $(TEST_DATA)) $(if $(MASKS),--masks $(MASKS)) \
	  $(if $(TEST_MASKS),--test-masks $(TEST_MASKS)) $(if $(VGG),--vgg $(VGG))

# The paper's run rehearsed on the CPU: `make reproduce PROFILE=full`'s code path (every notebook, 256 px, the
# paper's widths, HED, VGG19 randomly initialised, training and test masks) on a synthetic Places365 tree prepared
# by data_scripts/prepare_places2.py, with only counts shrunk (the rehearse profile). CI runs it after make test.
rehearse: install
	$(PY) -m inpaintkit.rehearsal --out runs/rehearse

# The executed notebooks of `make reproduce` (same PROFILE / RUN_DIR) as static HTML pages, figures embedded.
html: install
	$(PY) -m inpaintkit.site --run-dir $(RUN_DIR)

# The answered notebooks are the source; the student versions (solutions between ### BEGIN SOLUTION and
# ### END SOLUTION replaced by `raise NotImplementedError`, outputs cleared) are generated, never edited.
student: install
	$(PY) -m inpaintkit.exercises notebooks student

lint: install
	$(PY) -m ruff check inpaintkit tests benchmarks data_scripts

# ruff first, then one pytest run, one summary: unit tests and the notebooks (nbval compares only the
# cells marked NBVAL_CHECK_OUTPUT).
test: lint
	INPAINTKIT_PROFILE=smoke $(PY) -m pytest --nbval-lax tests notebooks

test-unit: install
	INPAINTKIT_PROFILE=smoke $(PY) -m pytest tests

test-notebooks: install
	INPAINTKIT_PROFILE=smoke $(PY) -m pytest --nbval-lax notebooks

# Execute notebooks in the smoke profile, then strip every output except cells whose
# metadata says keep_output (the NBVAL_CHECK_OUTPUT cells).
notebook-outputs: install
	@for nb in $(NB); do \
	  echo "executing $$nb"; \
	  (cd $$(dirname $$nb) && INPAINTKIT_PROFILE=smoke $(abspath $(PY)) -m jupyter nbconvert --to notebook --execute --inplace $$(basename $$nb)) || exit 1; \
	  $(PY) -m nbstripout --keep-id --keep-count $$nb || exit 1; \
	done

bench: install
	$(PY) benchmarks/bench_layers.py

clean:
	rm -rf runs .pytest_cache
