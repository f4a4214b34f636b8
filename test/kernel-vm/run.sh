#!/bin/bash
# (keyline: the project's copy of the shared kernel-vm harness; see test/kernel-vm/README.md)
# Boot Debian's real kernel under qemu with the host's / shared read-only (9p)
# under a tmpfs overlay, run ONE command inside, power off.
#
# usage: run.sh [options] [--] COMMAND [ARGS...]
#   COMMAND ARGS... are joined with spaces and run by `bash` inside the guest
#   (like ssh): run.sh 'ip xfrm state; ip xfrm policy' works.
#   The guest starts in the host's current directory (read-only view + overlay).
#   Exit status = the command's exit status (125 if the VM never reported one).
#
# options:
#   -s DIR   read-write share (host dir, created if missing; default: fresh
#            mktemp dir, deleted afterwards unless -k). Mounted in the guest at
#            the SAME path. Control files: DIR/.kernel-vm/{cmd.sh,rc,output.log}
#   -k       keep the default share dir (path printed on stderr)
#   -m MB    guest memory (default 1024)
#   -c N     guest CPUs (default 1; >1 uses multi-threaded TCG)
#   -t SEC   wall-clock limit, qemu is killed after it (default 600)
#   -e V=X   export V=X inside the guest (repeatable)
#   -T       fresh empty tmpfs on /tmp (default: host /tmp visible via the overlay)
#   -i       interactive: run COMMAND (default: bash) on the serial console
#   -v       verbose: show kernel boot messages and qemu command line
# env: KERNEL_VM_ACCEL=tcg|kvm (default: kvm only if /dev/kvm works AND the CPU
#      has vmx/svm, else tcg), KERNEL_VM_KVER, KERNEL_VM_CACHE (see build-initramfs.sh)
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SHARE=""
KEEP=0
MEM=1024
CPUS=1
LIMIT=600
VERBOSE=0
FRESHTMP=0
INTERACTIVE=0
ENVS=()
while getopts "s:km:c:t:e:Tiv" o; do
  case $o in
    s) SHARE=$OPTARG ;;
    k) KEEP=1 ;;
    m) MEM=$OPTARG ;;
    c) CPUS=$OPTARG ;;
    t) LIMIT=$OPTARG ;;
    e) ENVS+=("$OPTARG") ;;
    T) FRESHTMP=1 ;;
    i) INTERACTIVE=1 ;;
    v) VERBOSE=1 ;;
    *) sed -n '2,/^set -uo/p' "$0" | sed 's/^# \{0,1\}//;$d' >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
[ "${1:-}" = "--" ] && shift
if [ $# -eq 0 ]; then
  if [ $INTERACTIVE = 1 ]; then set -- bash -i; else echo "run.sh: no command (see -h)" >&2; exit 2; fi
fi

command -v qemu-system-x86_64 >/dev/null || { echo "run.sh: qemu-system-x86_64 missing: run $HERE/install-deps.sh" >&2; exit 125; }
ART=$("$HERE/build-initramfs.sh") || { echo "run.sh: build-initramfs.sh failed" >&2; exit 125; }

CREATED=0
if [ -z "$SHARE" ]; then
  SHARE=$(mktemp -d /tmp/kernel-vm.XXXXXX); CREATED=1
else
  mkdir -p "$SHARE" || exit 125
  SHARE=$(cd "$SHARE" && pwd -P)
fi
case $SHARE in *[[:space:]]*) echo "run.sh: share path must not contain spaces" >&2; exit 2 ;; esac
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() { if [ "$CREATED" = 1 ] && [ "$KEEP" = 0 ]; then rm -rf "$SHARE"; fi; }
trap cleanup EXIT
trap 'exit 130' INT TERM
CTL=$SHARE/.kernel-vm
rm -rf "$CTL"; mkdir -p "$CTL"

{
  echo '#!/bin/bash'
  printf 'cd %q 2>/dev/null || cd %q\n' "$PWD" "$SHARE"
  printf '%s\n' "$*"
} >"$CTL/cmd.sh"
: >"$CTL/env"
for e in "${ENVS[@]}"; do printf '%s=%q\n' "${e%%=*}" "${e#*=}" >>"$CTL/env"; done
[ $INTERACTIVE = 1 ] && : >"$CTL/interactive"

ACCEL=${KERNEL_VM_ACCEL:-}
if [ -z "$ACCEL" ]; then
  ACCEL=tcg
  if [ -r /dev/kvm ] && [ -w /dev/kvm ] && grep -qwE 'vmx|svm' /proc/cpuinfo && [ ! -d /sys/module/kvm_pvm ]; then
    ACCEL=kvm
  fi
fi
if [ "$ACCEL" = kvm ]; then
  # arch-capabilities (MSR 0x10a) is refused by some nested KVMs
  ACCEL_ARGS=(-accel kvm -cpu "host,-arch-capabilities")
else
  TCG=tcg
  [ "$CPUS" -gt 1 ] && TCG+=",thread=multi"
  [ -n "${KERNEL_VM_TCG_OPTS:-}" ] && TCG+=",$KERNEL_VM_TCG_OPTS"
  ACCEL_ARGS=(-accel "$TCG" -cpu "${KERNEL_VM_CPU:-max}")
fi

# microvm has no PIT/HPET/PM-timer reference: tell the kernel the TSC rate
# (TCG's guest TSC runs at the host TSC rate; the LAPIC then uses TSC-deadline)
TSC_KHZ=$(awk -F: '/^cpu MHz/{printf "%d", $2*1000; exit}' /proc/cpuinfo)
APPEND="console=ttyS0 panic=-1 oops=panic tsc=reliable no_timer_check mitigations=off"
APPEND+=" i8042.noaux i8042.nokbd i8042.nopnp random.trust_cpu=on cryptomgr.notests audit=0 apparmor=0 kvm.share=$SHARE"
[ -n "$TSC_KHZ" ] && APPEND+=" tsc_early_khz=$TSC_KHZ"
[ -n "${KERNEL_VM_APPEND:-}" ] && APPEND+=" $KERNEL_VM_APPEND"
if [ $VERBOSE = 1 ]; then APPEND+=" kvm.verbose"; else APPEND+=" quiet loglevel=3"; fi
[ $FRESHTMP = 1 ] && APPEND+=" kvm.freshtmp"

QEMU=(qemu-system-x86_64 "${ACCEL_ARGS[@]}"
  -M "microvm,x-option-roms=off,rtc=on,acpi=on"
  -m "$MEM" -smp "$CPUS"
  -nographic -nodefaults -no-user-config -no-reboot -monitor none -serial stdio -nic none
  -kernel "$ART/vmlinux" -initrd "$ART/initramfs.cpio" -append "$APPEND"
  -fsdev "local,id=hostroot,path=/,security_model=none,readonly=on,multidevs=remap"
  -device "virtio-9p-device,fsdev=hostroot,mount_tag=hostroot"
  -fsdev "local,id=share,path=$SHARE,security_model=none,multidevs=remap"
  -device "virtio-9p-device,fsdev=share,mount_tag=share")
[ $VERBOSE = 1 ] && printf '%q ' "${QEMU[@]}" >&2 && echo >&2

if [ $INTERACTIVE = 1 ]; then
  timeout -k 5 "$LIMIT" "${QEMU[@]}"
  QRC=$?
else
  # drop the kernel's final "reboot: Power down" line (pr_emerg, cannot be silenced)
  timeout -k 5 "$LIMIT" "${QEMU[@]}" </dev/null | sed -u -e '/^\[ *[0-9.]*\] reboot: Power down\r*$/d' -e 's/\[ *[0-9.]*\] reboot: Power down\r*$//'
  QRC=${PIPESTATUS[0]}
fi

if [ -s "$CTL/rc" ]; then
  RC=$(cat "$CTL/rc")
else
  if [ "$QRC" = 124 ] || [ "$QRC" = 137 ]; then echo "run.sh: VM killed after ${LIMIT}s" >&2
  else echo "run.sh: VM exited (qemu rc=$QRC) without reporting the command's exit status" >&2; fi
  RC=125
fi
[ $CREATED = 1 ] && [ $KEEP = 1 ] && echo "run.sh: share kept at $SHARE" >&2
exit "$RC"
