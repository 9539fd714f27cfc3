#!/usr/bin/env bash
# Checks that binaries run on any x86-64 CPU: no AVX, AVX2 or AVX-512
# instruction (VEX/EVEX encoded: a 'v' mnemonic, a ymm/zmm/opmask register or
# xmm16-31) outside the kernel instances that are chosen at run time, i.e.
# functions named *_v3 (x86-64-v3) or *_v4 (x86-64-v4), lib/core/nn.c's
# multiversioned kernels (and smm.c's transpose), and LIBXSMM's own
# internal_*_avx2 / internal_*_avx512 helpers, which LIBXSMM calls only after
# its CPUID check says the CPU has them (its code generator emits nothing the
# CPU lacks either: it runs at run time, for the CPU it finds).
# Usage: scripts/check-portable.sh BINARY...  (the image build runs it on
# build-portable/). Prints each offending function; exits 1 when there is one,
# 2 when it cannot check.
set -u
command -v objdump >/dev/null || { echo "check-portable: needs objdump (binutils)" >&2; exit 2; }
[ $# -gt 0 ] || { echo "usage: check-portable.sh BINARY..." >&2; exit 2; }
rc=0
for bin in "$@"; do
    [ -f "$bin" ] || { echo "check-portable: no file $bin" >&2; exit 2; }
    report=$(objdump -d --no-show-raw-insn "$bin" | awk '
        /^[0-9a-f]+ <.*>:$/ { f = substr($2, 2, length($2) - 3); next }
        NF < 2 { next }
        {
            vex = $2 ~ /^v/ || $0 ~ /%([yz]mm[0-9]|xmm(1[6-9]|2[0-9]|3[01])|k[0-7])/
            if (!vex) next
            if (f ~ /_v[34]$/ || f ~ /^internal_[a-z0-9_]+_avx(2|512[a-z0-9_]*)$/) inst[f] = 1
            else if (!(f in bad)) { bad[f] = $2; order[++nbad] = f }
        }
        END {
            for (i = 1; i <= nbad; i++) printf "bad %s (%s)\n", order[i], bad[order[i]]
            n = 0; for (k in inst) n++
            printf "instances %d\n", n
        }')
    nbad=$(grep -c '^bad ' <<<"$report")
    ninst=$(sed -n 's/^instances //p' <<<"$report")
    if [ "$nbad" -gt 0 ]; then
        echo "$bin: AVX instructions outside the run-time kernel variants:"
        sed -n 's/^bad /  /p' <<<"$report"
        rc=1
    fi
    echo "$bin: $ninst AVX kernel instances (*_v3, *_v4), $nbad other functions with AVX"
done
exit $rc
