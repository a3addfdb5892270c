# Two commands set everything up on a fresh machine: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# torch: a machine without CUDA gets the CPU build (a plain `torch` would pull several GB of CUDA wheels).
TORCH_CPU := torch==2.13.0
TORCH_CPU_INDEX := https://download.pytorch.org/whl/cpu

.PHONY: install demo test bench lint clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	@if $(BIN)/python -c "import torch" 2>/dev/null; then \
		echo "torch already installed"; \
	elif command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi >/dev/null 2>&1; then \
		$(BIN)/python -m pip install -q "torch>=2.4"; \
	else \
		$(BIN)/python -m pip install -q $(TORCH_CPU) || \
		$(BIN)/python -m pip install -q $(TORCH_CPU) --index-url $(TORCH_CPU_INDEX); \
	fi
	$(BIN)/python -m pip install -q -e ".[test]"
	touch $(STAMP)

demo: install
	$(BIN)/vlmgrade run --model nanovlm-cnn-lr2e3-scenes --model nanovlm-mini-scenes --data scenes-short:test --limit 50 --out reports/demo

test: install
	$(BIN)/python -m pytest

bench: install
	@for script in bench/*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

lint: install
	$(BIN)/ruff check vlmgrade tests bench

clean:
	rm -rf $(VENV) build *.egg-info
