#!/usr/bin/env bash
# The admin site example: production build, then the browser tests (Debian's chromium + playwright-core)
# against the database server and a real worker, and the unit tests in test/. Expects the addon (npm run
# build:debug), the worker and pc-harness to be built (scripts/test.sh does that first).
set -euo pipefail
cd "$(dirname "$0")/../examples/admin-site"
# The package as the site gets it: the packed tarballs of this repository, the main package and the
# linux-x64-gnu addon package (scripts/test.sh packs them after scripts/build-npm.sh built the addon).
# A fresh tarball each build: forget the previous one's checksum.
rm -rf package-lock.json node_modules/printcore node_modules/printcore-linux-x64-gnu
npm install --no-audit --no-fund --loglevel=error
NEXT_TELEMETRY_DISABLED=1 npx next build >/tmp/admin-site-build.log 2>&1 || { cat /tmp/admin-site-build.log; exit 1; }
NEXT_TELEMETRY_DISABLED=1 node --test --test-reporter=spec e2e/ test/
