# The native C++ runner for ExecuTorch programs (issue 7); included by the Makefile. Builds go to the
# cache folder (${XDG_CACHE_HOME:-~/.cache}/hpun-edge: native/<source key>/native-host, native-aarch64,
# native-smoke; aarch64-wheel, the aarch64 executorch wheel). See native/README.md.
.PHONY: native native-aarch64 native-smoke-aarch64 native-setup-aarch64 native-clean

native: $(STAMP)  # hpun_runner in the cache folder, against the venv's executorch wheel (~30 s the first time)
	$(PY) -m hpun_edge.app.native build

native-setup-aarch64: $(STAMP)  # g++-aarch64-linux-gnu + qemu-user (apt, root) and the aarch64 wheel
	native/scripts/setup_aarch64.sh $(PY)

native-aarch64: native-setup-aarch64  # the aarch64 hpun_runner in the cache folder, cross-compiled
	$(PY) -m hpun_edge.app.native build --arch aarch64

native-smoke-aarch64: native-setup-aarch64  # host vs qemu-aarch64 outputs on a small HPUN-S x2 program
	$(PY) -m hpun_edge.app.native smoke-aarch64

native-clean:
	rm -rf "$${XDG_CACHE_HOME:-$$HOME/.cache}/hpun-edge/native" "$${XDG_CACHE_HOME:-$$HOME/.cache}/hpun-edge/kernels"
