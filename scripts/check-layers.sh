#!/usr/bin/env bash
# Checks that lib/ keeps its layers apart: a file of a layer includes headers
# of its own layer and the layers it may use, never one above (docs/
# architecture.md). The build enforces the same through include paths; this
# check names the offending line and the rule, and also catches a header name
# that exists in two layers. Exits 1 and lists every violation, else prints
# one line.
#
#   core  uses nothing else
#   io    uses core
#   pipe  uses core, io (and the protobuf code generated from proto/)
#   fig   uses core, io
set -u
cd "$(dirname "$0")/.."
declare -A uses=([core]="core" [io]="core io" [pipe]="core io pipe" [fig]="core io fig")
declare -A layer_of
bad=0
for layer in core io pipe fig; do
    for h in lib/$layer/*.h; do
        [ -e "$h" ] || continue
        name=$(basename "$h")
        if [ -n "${layer_of[$name]:-}" ]; then
            echo "check-layers: $name is in both lib/${layer_of[$name]} and lib/$layer"
            bad=1
        fi
        layer_of[$name]=$layer
    done
done
for f in lib/*.c lib/*.h; do
    [ -e "$f" ] && { echo "check-layers: $f is outside every layer (lib/core, io, pipe, fig)"; bad=1; }
done
for layer in core io pipe fig; do
    for f in lib/$layer/*.c lib/$layer/*.h; do
        [ -e "$f" ] || continue
        while IFS=: read -r line inc; do
            name=$(sed -E 's/.*#include "([^"]+)".*/\1/' <<<"$inc")
            if [ "$name" = dinamo.pb-c.h ]; then
                target=pipe
            else
                target=${layer_of[$name]:-}
            fi
            if [ -z "$target" ]; then
                echo "$f:$line: includes \"$name\", which is in no layer of lib/"
                bad=1
            elif ! grep -qw "$target" <<<"${uses[$layer]}"; then
                echo "$f:$line: $layer includes \"$name\" of $target (a $layer file uses only: ${uses[$layer]})"
                bad=1
            fi
        done < <(grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$f")
    done
done
if [ $bad = 0 ]; then
    echo "layers: lib/core, io, pipe, fig include nothing above their layer"
fi
exit $bad
