#!/bin/bash
# sequential downloads; sdist preferred, wheel fallback
cd /work/corpus2
for p in "$@"; do
  echo "=== $p"
  if ! timeout 300 nice -n 19 python3 -m pip download -q --no-deps --no-binary :all: "$p" -d dl/sdist_$p >>dl/log_$p.txt 2>&1; then
    echo "sdist failed for $p, trying wheel"
    timeout 300 nice -n 19 python3 -m pip download -q --no-deps --only-binary :all: "$p" -d dl/wheel_$p >>dl/log_$p.txt 2>&1 || echo "FAILED $p"
  fi
done
