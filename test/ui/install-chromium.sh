#!/usr/bin/env bash
# Makes a headless Chromium available for the status page's browser test
# (api: TestUIInBrowser): uses one already installed, else installs Debian's
# `chromium` package when this runs as root (or with password-less sudo)
# on a system with apt-get. It never fails the build: when Chromium cannot
# be installed it says so, and the browser test skips with that reason.
set -uo pipefail

for b in "${MESHCDN_CHROMIUM:-}" chromium chromium-browser google-chrome headless_shell; do
    if [ -n "$b" ] && command -v "$b" >/dev/null 2>&1; then
        echo "chromium: using $(command -v "$b")"
        exit 0
    fi
done

if ! command -v apt-get >/dev/null 2>&1; then
    echo "chromium: not installed and no apt-get here: the browser test of /ui (TestUIInBrowser) will be skipped" >&2
    exit 0
fi
sudo=""
if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        sudo="sudo -n"
    else
        echo "chromium: not installed and not root (no password-less sudo): the browser test of /ui (TestUIInBrowser) will be skipped; install it with: apt-get install -y chromium" >&2
        exit 0
    fi
fi
echo "chromium: installing Debian's chromium package (once)…"
export DEBIAN_FRONTEND=noninteractive
if ! $sudo apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1; then
    $sudo apt-get update -qq >/dev/null 2>&1
    if ! $sudo apt-get install -y -qq --no-install-recommends chromium >/dev/null; then
        echo "chromium: apt-get install chromium failed: the browser test of /ui (TestUIInBrowser) will be skipped" >&2
        exit 0
    fi
fi
echo "chromium: installed $(command -v chromium)"
