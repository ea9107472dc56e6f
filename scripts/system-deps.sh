#!/usr/bin/env bash
# Install the system packages fmlpipe uses, where apt is available and we may use it.
# Idempotent: packages already installed are skipped. Usage: scripts/system-deps.sh [--test]
#   always: dataset-fashion-mnist (the real Fashion-MNIST IDX files, offline),
#           gcc, libc6-dev (pip install builds the pool-and-ReLU C kernel with it; without it, a slower path)
#   --test: also what the test suite needs: chromium (headless, renders the MLflow UI in tests/tracking)
set -euo pipefail

packages=(dataset-fashion-mnist gcc libc6-dev)
for arg in "$@"; do
  case "$arg" in
    --test) packages+=(chromium) ;;
    *) echo "usage: $0 [--test]" >&2; exit 2 ;;
  esac
done

missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
  echo "note: apt-get not found; install ${missing[*]} yourself (a C compiler is optional; instead of dataset-fashion-mnist, data.download: true in params.yaml works online; without chromium the UI browser test is skipped)" >&2
  exit 0
fi
if [ "$(id -u)" -eq 0 ]; then sudo=""; elif sudo -n true 2>/dev/null; then sudo="sudo"; else
  echo "note: not root and no passwordless sudo; run: sudo apt-get install -y ${missing[*]}" >&2
  exit 0
fi
echo "installing system packages: ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
