# Cross-compiling hpun_runner for aarch64 Linux (glibc) with Debian's cross compiler:
#
#   apt-get install g++-aarch64-linux-gnu qemu-user      # native/scripts/setup_aarch64.sh does this
#   cmake -S native -B build/native-aarch64 --toolchain native/toolchains/aarch64-linux-gnu.cmake \
#         -DEXECUTORCH_ROOT=build/aarch64-wheel/executorch
#
# EXECUTORCH_ROOT must hold the aarch64 executorch wheel (manylinux_2_28_aarch64), unpacked; the build
# checks the libraries' architecture. Run the result on the board, or here under
# `qemu-aarch64 -L /usr/aarch64-linux-gnu build/native-aarch64/hpun_runner ...`.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(HPUN_CROSS_PREFIX "aarch64-linux-gnu-" CACHE STRING "Prefix of the cross tools (…g++, …gcc)")
find_program(HPUN_CROSS_CXX "${HPUN_CROSS_PREFIX}g++")
if(NOT HPUN_CROSS_CXX)
  message(FATAL_ERROR "hpun: ${HPUN_CROSS_PREFIX}g++ not found; apt-get install g++-aarch64-linux-gnu "
                      "(or run native/scripts/setup_aarch64.sh)")
endif()
set(CMAKE_CXX_COMPILER "${HPUN_CROSS_CXX}")
find_program(HPUN_CROSS_CC "${HPUN_CROSS_PREFIX}gcc")
if(HPUN_CROSS_CC)
  set(CMAKE_C_COMPILER "${HPUN_CROSS_CC}")
endif()

# The Debian cross compiler knows its own sysroot (/usr/aarch64-linux-gnu). Host paths (the unpacked wheel)
# must stay findable too, so libraries, headers and packages are looked up in both; programs on the host.
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)
# How tests run the result on an x86-64 host (try_run, CTest).
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64 -L /usr/aarch64-linux-gnu)
