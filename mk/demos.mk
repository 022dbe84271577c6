# The demo apps (issue 6); included by the Makefile. Each target works on a fresh clone: the Android
# toolchain (Debian packages, ExecuTorch's classes.jar) and the Swift chroot are fetched on first use
# into gitignored folders (android_demo/.toolchain, ios_demo/.toolchain).
.PHONY: test-android apk test-ios golden

test-android:  # the pure-Java core against demo_golden/ (javac + java, no Gradle)
	android_demo/scripts/run_core_tests.sh

apk:  # signed debug APK without Gradle; prints aapt dump badging and apksigner verify
	android_demo/scripts/build_apk.sh

test-ios:  # a Debian trixie chroot with Swift 6 (needs root; ~2 min, 3.3 GB once), then swift test
	ios_demo/scripts/setup_swift_chroot.sh
	ios_demo/scripts/run_swift_tests.sh

golden: $(STAMP)  # rewrite demo_golden/ from hpun_edge (commit the result)
	$(PY) scripts/golden_vectors.py
