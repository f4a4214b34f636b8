#!/bin/bash
# (keyline: the project's copy of the shared kernel-vm harness; see test/kernel-vm/README.md)
# Build the artifacts run.sh boots:
#   $KERNEL_VM_CACHE/<kver>/vmlinux         uncompressed kernel (PVH ELF, no in-guest decompression)
#   $KERNEL_VM_CACHE/<kver>/initramfs.cpio  busybox-static + /init + the few modules needed to mount 9p
# The guest's real root is the HOST's / shared read-only over 9p, so every other
# module (esp4, xfrm_user, veth, ...) is loaded from /lib/modules/<kver> of the host.
#
# usage: build-initramfs.sh [--force]
# env:   KERNEL_VM_KVER   kernel version (default: newest /boot/vmlinuz-* that has /lib/modules/<ver>)
#        KERNEL_VM_CACHE  artifact dir (default /var/tmp/kernel-vm)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${KERNEL_VM_CACHE:-/var/tmp/kernel-vm}
FORCE=0
[ "${1:-}" = "--force" ] && FORCE=1

die() { echo "build-initramfs: $*" >&2; exit 1; }

if [ -n "${KERNEL_VM_KVER:-}" ]; then
  KVER=$KERNEL_VM_KVER
else
  KVER=""
  # the newest version last (sort -V), so it wins
  for f in $(printf '%s\n' /boot/vmlinuz-* | sort -V); do
    v=${f#/boot/vmlinuz-}
    [ -d "/lib/modules/$v/kernel" ] && KVER=$v
  done
  [ -n "$KVER" ] || die "no /boot/vmlinuz-* with /lib/modules/<ver>; run install-deps.sh (apt-get install linux-image-amd64)"
fi
BZ=/boot/vmlinuz-$KVER
MODDIR=/lib/modules/$KVER
[ -r "$BZ" ] || die "missing $BZ"
[ -d "$MODDIR" ] || die "missing $MODDIR"
[ -x /bin/busybox ] || die "missing /bin/busybox (apt-get install busybox-static)"
file -L /bin/busybox 2>/dev/null | grep -q 'statically linked' || ldd /bin/busybox 2>&1 | grep -q 'not a dynamic' \
  || die "/bin/busybox is not static (apt-get install busybox-static)"

OUT=$CACHE/$KVER
STAMP="kver=$KVER bz=$(stat -c %Y:%s "$BZ") init=$(md5sum "$HERE/guest-init.sh" | cut -c1-32) bb=$(stat -c %Y:%s /bin/busybox)"
if [ $FORCE = 0 ] && [ -f "$OUT/stamp" ] && [ "$(cat "$OUT/stamp")" = "$STAMP" ] \
   && [ -f "$OUT/vmlinux" ] && [ -f "$OUT/initramfs.cpio" ]; then
  echo "$OUT"
  exit 0
fi

mkdir -p "$CACHE"
TMP=$(mktemp -d "$CACHE/.build.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

# 1. vmlinux: bzImage -> the xz (or other) payload -> ELF with a PVH note, which
#    qemu -kernel boots directly (skips SeaBIOS real-mode setup and the slow
#    in-guest decompression under TCG).
python3 - "$BZ" "$TMP/payload" <<'EOF'
import sys
d = open(sys.argv[1], 'rb').read()
for name, magic in (('xz', b'\xfd7zXZ\x00'), ('zstd', b'\x28\xb5\x2f\xfd'),
                    ('gz', b'\x1f\x8b\x08'), ('lz4', b'\x02\x21\x4c\x18')):
    i = d.find(magic, 0x200)
    if i >= 0:
        open(sys.argv[2], 'wb').write(d[i:])
        open(sys.argv[2] + '.kind', 'w').write(name)
        break
else:
    sys.exit('no known compressed payload in ' + sys.argv[1])
EOF
case $(cat "$TMP/payload.kind") in
  xz)   xz -dc --single-stream <"$TMP/payload" >"$TMP/vmlinux" ;;
  zstd) zstd -dcq <"$TMP/payload" >"$TMP/vmlinux" 2>/dev/null || true ;;
  gz)   gzip -dc <"$TMP/payload" >"$TMP/vmlinux" 2>/dev/null || true ;;
  lz4)  lz4 -dc <"$TMP/payload" >"$TMP/vmlinux" 2>/dev/null || true ;;
esac
head -c 4 "$TMP/vmlinux" | grep -q 'ELF' || die "could not extract vmlinux from $BZ"
rm -f "$TMP/payload" "$TMP/payload.kind"

# 2. initramfs
R=$TMP/root
mkdir -p "$R"/{bin,dev,proc,sys,lower,rw,newroot,mods}
cp /bin/busybox "$R/bin/busybox"
ln -s busybox "$R/bin/sh"
install -m 0755 "$HERE/guest-init.sh" "$R/init"
# modules needed before the host root is mounted, in dependency order
: >"$R/mods/order"
for m in virtio_pci virtio_mmio 9pnet_virtio 9p overlay; do
  modprobe -S "$KVER" --show-depends "$m" | awk '$1=="insmod"{print $2}'
done | awk '!seen[$0]++' | while read -r ko; do
  b=$(basename "$ko")
  case $ko in
    *.ko) cp "$ko" "$R/mods/$b" ;;
    *.ko.xz) xz -dc "$ko" >"$R/mods/${b%.xz}"; b=${b%.xz} ;;
    *.ko.zst) zstd -dcq "$ko" >"$R/mods/${b%.zst}"; b=${b%.zst} ;;
    *.ko.gz) gzip -dc "$ko" >"$R/mods/${b%.gz}"; b=${b%.gz} ;;
  esac
  echo "$b" >>"$R/mods/order"
done
mknod -m 600 "$R/dev/console" c 5 1 2>/dev/null || true
(cd "$R" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --quiet) >"$TMP/initramfs.cpio"

mkdir -p "$OUT"
mv -f "$TMP/vmlinux" "$OUT/vmlinux.new" && mv -f "$OUT/vmlinux.new" "$OUT/vmlinux"
mv -f "$TMP/initramfs.cpio" "$OUT/initramfs.cpio.new" && mv -f "$OUT/initramfs.cpio.new" "$OUT/initramfs.cpio"
echo "$STAMP" >"$OUT/stamp"
echo "$OUT"
