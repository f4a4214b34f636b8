#!/bin/bash
# (keyline: the project's copy of the shared kernel-vm harness; see test/kernel-vm/README.md)
# Install what run.sh needs (Debian 12): Debian's kernel + modules, qemu, busybox-static.
# Idempotent. ~1 min the first time (~86 MB download, ~500 MB on disk).
set -euo pipefail
need=()
dpkg-query -W -f='${Status}' linux-image-amd64 2>/dev/null | grep -q 'ok installed' || need+=(linux-image-amd64)
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
for t in cpio:cpio xz:xz-utils python3:python3; do command -v "${t%%:*}" >/dev/null || need+=("${t#*:}"); done
dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'ok installed' || need+=(busybox-static)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq
  # INITRD=No: skip update-initramfs (Debian's own initrd is not used; saves ~20 s)
  INITRD=No DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need[@]}"
fi
exec "$(dirname "$0")/build-initramfs.sh"
