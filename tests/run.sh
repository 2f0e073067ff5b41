#!/usr/bin/env bash
# Runs Synod's whole test suite on a fresh Debian 12 machine: installs the
# dependencies, builds with SYNOD_JOBS (default 2) jobs, runs every ctest test.
set -euo pipefail
cd "$(dirname "$0")/.."
deploy/install-deps.sh
deploy/build.sh
cd "${SYNOD_BUILD_DIR:-build}"
ctest --output-on-failure -j "${SYNOD_JOBS:-2}" --timeout 900
