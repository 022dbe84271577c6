# Two entry points (see README): `make run` (the main job) and `make test` (the test suite).
# Both create .venv on first use and install everything into it.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt | cksum | cut -d' ' -f1)
OUT    ?= out

.PHONY: run test bench install clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# The CPU build of torch first (pip finds it in the local wheel folder), then everything else
	# with torch pinned so that no CUDA build is pulled in.
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -c constraints.txt -e '.[targets,train,dev]'
	rm -f $(VENV)/.installed-*
	touch $@

run: $(STAMP)
	$(VENV)/bin/hpun-edge info
	$(VENV)/bin/hpun-edge eval --model bicubic --scale 2 3 4 --dataset Set5 Set14 B100 --json $(OUT)/bicubic.json
	$(VENV)/bin/hpun-edge eval --model hpun_s --scale 2 --dataset Set5 Set14 B100 --json $(OUT)/hpun_s_x2.json
	@echo "results: $(OUT)/bicubic.json $(OUT)/hpun_s_x2.json"

test: $(STAMP)
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) -m pytest -q benchmarks --benchmark-only --benchmark-enable

clean:
	rm -rf $(VENV) $(OUT)
