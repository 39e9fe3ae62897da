#!/usr/bin/env bash
# Installs Debian's headless-capable Chromium and its WebDriver for the annotation
# platform's browser test (tests/annotate/test_annotate_browser.py). Idempotent: does
# nothing when both are already there. Needs root (or sudo) and Debian's package mirrors;
# the browser comes from Debian, never from a download of its own.
set -euo pipefail

if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
    echo "install_browser: chromium and chromedriver already installed"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "install_browser: need root (or sudo) to apt-get install chromium chromium-driver" >&2
        exit 1
    fi
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq chromium chromium-driver >/dev/null
echo "install_browser: installed $(chromium --version 2>/dev/null | head -n1)"
