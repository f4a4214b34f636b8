#!/bin/sh
# (keyline: the project's copy of the shared kernel-vm harness; see test/kernel-vm/README.md)
# /init of the kernel-vm initramfs (runs under busybox sh as PID 1).
# 1. load virtio + 9p + overlay modules shipped in the initramfs
# 2. mount the host's / (9p tag "hostroot", read-only) as the lower layer of an
#    overlay whose upper layer is a tmpfs  -> whole root writable, writes vanish
# 3. fresh tmpfs on /run (host pid files / sockets must not leak in), /dev/shm
# 4. mount the read-write 9p tag "share" at the same path it has on the host
# 5. switch_root and run "$SHARE/.kernel-vm/cmd.sh"; its exit status goes to
#    $SHARE/.kernel-vm/rc, then power off.
B=/bin/busybox
export PATH=/bin

$B mount -t proc proc /proc
$B mount -t sysfs sysfs /sys
$B mount -t devtmpfs devtmpfs /dev 2>/dev/null

mark() {
  [ $VERBOSE = 1 ] || return 0
  if [ -e /dev/kmsg ]; then echo "kernel-vm init: $*" >/dev/kmsg; else echo "kernel-vm init: $*" >/newroot/dev/kmsg; fi
}
fail() {
  echo "kernel-vm init: $*" >/dev/console
  $B sync
  $B poweroff -f
}

SHARE=""
VERBOSE=0
FRESHTMP=0
for w in $($B cat /proc/cmdline); do
  case $w in
    kvm.share=*) SHARE=${w#kvm.share=} ;;
    kvm.verbose) VERBOSE=1 ;;
    kvm.freshtmp) FRESHTMP=1 ;;
  esac
done
[ -n "$SHARE" ] || fail "no kvm.share= on the kernel command line"
mark start

for m in $($B cat /mods/order); do
  $B insmod "/mods/$m" 2>/dev/null || { [ "$VERBOSE" = 1 ] && echo "kernel-vm init: insmod $m failed" >/dev/console; }
done

mark modules loaded
O9P="trans=virtio,version=9p2000.L,msize=512000"
i=0
until $B mount -t 9p -o "$O9P,cache=loose,ro" hostroot /lower 2>/dev/null; do
  i=$((i+1)); [ $i -gt 50 ] && fail "cannot mount 9p hostroot"
  $B usleep 100000
done

mark hostroot mounted
$B mount -t tmpfs -o mode=0755,size=50% rw /rw
$B mkdir -p /rw/upper /rw/work
if ! $B mount -t overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work overlay /newroot 2>/dev/null; then
  # fallback: plain read-only host root with tmpfs on the usual writable dirs
  [ $VERBOSE = 1 ] && echo "kernel-vm init: overlay failed, using ro root + tmpfs dirs" >/dev/console
  $B mount --bind /lower /newroot
  for d in tmp var/tmp var/lib var/log var/cache root; do
    $B mount -t tmpfs -o mode=0755 tmpfs /newroot/$d 2>/dev/null
  done
  $B chmod 1777 /newroot/tmp /newroot/var/tmp 2>/dev/null
fi

mark overlay mounted
$B mount --move /proc /newroot/proc
$B mount --move /sys /newroot/sys
$B mount --move /dev /newroot/dev
$B mkdir -p /newroot/dev/pts /newroot/dev/shm
$B mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts /newroot/dev/pts
$B mount -t tmpfs -o mode=1777 tmpfs /newroot/dev/shm
$B mount -t tmpfs -o mode=0755 tmpfs /newroot/run
$B mkdir -p /newroot/run/lock /newroot/run/netns /newroot/run/kernel-vm
if [ $FRESHTMP = 1 ]; then
  $B mount -t tmpfs -o mode=1777 tmpfs /newroot/tmp
fi
$B mount -t tmpfs -o mode=1777 tmpfs /newroot/var/tmp 2>/dev/null
$B mount -t securityfs securityfs /newroot/sys/kernel/security 2>/dev/null
$B mount -t debugfs debugfs /newroot/sys/kernel/debug 2>/dev/null
$B mount -t cgroup2 cgroup2 /newroot/sys/fs/cgroup 2>/dev/null

$B mkdir -p "/newroot$SHARE" 2>/dev/null
$B mount -t 9p -o "$O9P,cache=none" share "/newroot$SHARE" || fail "cannot mount 9p share at $SHARE"

mark share mounted
$B cp /bin/busybox /newroot/run/kernel-vm/busybox
$B cat >/newroot/run/kernel-vm/stage2 <<'EOF'
B=/run/kernel-vm/busybox
SHARE=$1
CTL=$SHARE/.kernel-vm
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root LANG=C.UTF-8 TERM=${TERM:-dumb} KERNEL_VM=1 KERNEL_VM_SHARE=$SHARE
$B stty -F /dev/console -onlcr 2>/dev/null
$B hostname kernel-vm
$B ip link set lo up 2>/dev/null
[ -n "$KVM_VERBOSE" ] && echo "kernel-vm stage2: running command" >/dev/kmsg
if [ -f "$CTL/env" ]; then set -a; . "$CTL/env"; set +a; fi
if [ -f "$CTL/interactive" ]; then
  $B setsid $B cttyhack /bin/bash "$CTL/cmd.sh"
  echo $? >"$CTL/rc"
else
  { /bin/bash "$CTL/cmd.sh" </dev/null; echo $? >"$CTL/rc"; } 2>&1 | $B tee "$CTL/output.log" >/dev/console
fi
$B sync
$B poweroff -f
EOF
mark switch_root
[ $VERBOSE = 1 ] && export KVM_VERBOSE=1
exec $B switch_root /newroot /run/kernel-vm/busybox sh /run/kernel-vm/stage2 "$SHARE"
