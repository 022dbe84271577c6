# The native C++ runner for ExecuTorch programs (issue 7); included by the Makefile. Builds go to the
# gitignored build/ folder: build/native-host, build/native-aarch64 (+ build/aarch64-wheel, the
# aarch64 executorch wheel, and build/native-smoke). See native/README.md.
.PHONY: native native-aarch64 native-smoke-aarch64 native-setup-aarch64 native-clean

native: $(STAMP)  # build/native-host/hpun_runner against the venv's executorch wheel (~30 s the first time)
	$(PY) -m hpun_edge.native build

native-setup-aarch64: $(STAMP)  # g++-aarch64-linux-gnu + qemu-user (apt, root) and the aarch64 wheel
	native/scripts/setup_aarch64.sh $(PY)

native-aarch64: native-setup-aarch64  # build/native-aarch64/hpun_runner, cross-compiled
	$(PY) -m hpun_edge.native build --arch aarch64

native-smoke-aarch64: native-setup-aarch64  # host vs qemu-aarch64 outputs on a small HPUN-S x2 program
	$(PY) -m hpun_edge.native smoke-aarch64

native-clean:
	rm -rf build/native-host build/native-aarch64 build/native-smoke
