#!/usr/bin/env bash
# Runs the benchmark (bench/README.md): tapstack, lwIP, the kernel over veth and the raw TAP
# ceiling side by side, each in private network namespaces this run creates and deletes.
#   bench/run.sh            full run (about 10 minutes), results in bench/results/
#   bench/run.sh --quick    smoke run (under a minute)
# Needs root (namespaces, TAP devices) and a build in build/ (cmake -S . -B build && cmake --build build).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
exec python3 "$here/run.py" "$@"
