#!/bin/bash
# make check's fuzz pass: every stored seed and crash through every harness, then a short run of
# each harness (FUZZ_CHECK_SECONDS, default 8; `make fuzz` is the long run).
exec env FUZZ_SECONDS="${FUZZ_CHECK_SECONDS:-8}" bash "$(dirname "$0")/run.sh"
