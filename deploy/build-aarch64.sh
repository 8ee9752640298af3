#!/usr/bin/env bash
# Kept for old notes and habits: the same as `deploy/build-pi.sh aarch64 [--deb]`, which builds
# every Raspberry Pi target (aarch64, armv7, armv6); see its --help and docs/deploy.md.
exec "$(dirname "$0")/build-pi.sh" aarch64 "$@"
