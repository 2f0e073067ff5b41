#!/usr/bin/env bash
# Installs Synod's build and test dependencies from Debian 12 packages.
# Needs root (or sudo). Safe to run again.
set -euo pipefail
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends \
  build-essential cmake ninja-build pkg-config \
  libgrpc++-dev protobuf-compiler-grpc protobuf-compiler libprotobuf-dev \
  librocksdb-dev libzstd-dev libabsl-dev \
  libgtest-dev libgmock-dev libbenchmark-dev \
  iproute2 procps python3 \
  libzookeeper-mt-dev \
  python3-prometheus-client \
  python3-yaml \
  libgoogle-perftools-dev
# ZooKeeper clients for the --zk_addr tests (tests/e2e/zk_kazoo.py).
$SUDO apt-get install -y -q --no-install-recommends python3-kazoo
# Java ZooKeeper clients for the same tests: zkCli.sh (zookeeper), Curator, javac.
$SUDO apt-get install -y -q --no-install-recommends zookeeper libcurator-framework-java libcurator-recipes-java default-jdk-headless
$SUDO apt-get install -y -q --no-install-recommends libcli11-dev nlohmann-json3-dev libcpp-httplib-dev
# SASL (DIGEST-MD5) on the ZooKeeper port: Cyrus SASL and its plugins.
$SUDO apt-get install -y -q --no-install-recommends libsasl2-dev libsasl2-modules
# TLS (OpenSSL for the Raft link; the openssl tool for test and local-cluster certificates).
$SUDO apt-get install -y -q --no-install-recommends libssl-dev openssl
# The check jobs (tests/checks.sh): clang, its sanitizer runtimes and
# llvm-symbolizer for readable sanitizer stacks.
$SUDO apt-get install -y -q --no-install-recommends clang libclang-rt-14-dev llvm
# The fuzz check job: libFuzzer for clang 14.
$SUDO apt-get install -y -q --no-install-recommends libfuzzer-14-dev
