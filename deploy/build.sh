#!/usr/bin/env bash
# Configures and builds Synod into ./build (Release with debug info).
# SYNOD_JOBS sets the build parallelism (default 2).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${SYNOD_BUILD_DIR:-build}
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@"
cmake --build "$BUILD_DIR" -j "${SYNOD_JOBS:-2}"
