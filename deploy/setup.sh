#!/usr/bin/env bash
# One command from a fresh Debian 12 machine to a running local cluster:
# installs the build dependencies (apt-get, needs root or sudo), builds
# Synod into ./build and starts a 3-replica cluster on 127.0.0.1
# (client ports 7001-7003, peer ports 7101-7103, data under ./.cluster).
set -euo pipefail
cd "$(dirname "$0")/.."
deploy/install-deps.sh
deploy/build.sh
deploy/cluster.sh start 3
deploy/cluster.sh status
