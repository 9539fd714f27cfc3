#!/usr/bin/env bash
# test-deploy.sh: the shipped compose cluster (deploy/docker-compose.yml) run
# for real against a Docker engine (make test-deploy; .ci/run after make test).
#
#   scripts/test-deploy.sh [--compose FILE] [--keep]
#
# Steps, each timed, each failure one line "FAIL: step NAME: why":
#   deps      docker.io, docker-compose, debootstrap, curl, jq, npm from Debian
#             when missing
#   dockerd   started when none answers (and stopped at the end)
#   base      debian:bookworm-slim built with debootstrap + docker import when
#             absent (no registry is needed)
#   image     the project image built from a clean tree (git archive HEAD:
#             no build/, no data/; the page's uPlot installed into it with
#             npm ci --omit=dev), tagged for this run only
#   up        the cluster (its own compose project) with 2 trainers on a small
#             lockstep stream: RUNS runs of the shipped config's 6 keys
#   healthy   every container's healthcheck (dinamo health) says healthy, the
#             one-shot keys service made the keys and exited 0, and every
#             service (the dashboard too) speaks CURVE with its own key
#   share     2 trainers share the keys, then --scale trainer=3 and the new one
#             gets its share
#   kill      one trainer holding keys killed with docker kill -s KILL: the
#             others take its keys over once its lease runs out
#   scale     --scale trainer=1: the one left takes every key
#   report    the evaluator's final report (FINAL); meanwhile, at nice 19,
#             the same data generated and scored with `dinamo score` (S and
#             ML) inside the same image
#   offline   waits for that reference
#   compare   every key's report scores equal dinamo score's, byte for byte
#   dashboard from the host, on its published loopback port: the page and
#             uPlot are served; the whole stream is there and its bad runs
#             (S and ML) are the report's (runs.csv); a user made with
#             `dinamo user add` in its volume, then a restart (it serves the
#             stream from its store at once); a login gives a CSRF token, a
#             verdict with it is accepted (202), one without refused (403),
#             and the label comes back through the events log naming the user
# Everything it made (containers, volumes, network, the image tag, the
# report, the dockerd it started) is removed at the end, also after a failure
# or an interrupt (trap); --keep leaves the cluster up for a look.
#
# The package layers of both build stages are kept, tagged
# dinamo-test-deploy:build-packages and :runtime-packages, as the next run's
# cache, and so is the base image. DINAMO_DOCKER_BUILD_ARGS adds docker build
# arguments (e.g. "--build-arg ARCH=-march=native"). Budget: under 15 minutes
# on the project's 2-core machine with the caches warm (measured 538 s at
# load ~8; 1101 s at load 15-18, when the stream's last trainer got a
# seventh of the machine).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

RUNS=200          # runs per key
ANOMALOUS=20
NHIST=60          # historical regime (alpha and threshold tuning)
KEYS=6            # the shipped config's histograms (checked below)
LEASE_S=5         # trainer lease: a killed trainer's keys move after this
RATE=4            # runs/s: the stream outlasts the scaling steps

compose_file=""
keep=0
while [ $# -gt 0 ]; do
    case $1 in
        --compose) compose_file=$(realpath "$2"); shift 2 ;;
        --keep) keep=1; shift ;;
        -h|--help) sed -n '2,/^set -eu/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "test-deploy.sh: unknown argument '$1'" >&2; exit 2 ;;
    esac
done

sudo_=""
[ "$(id -u)" = 0 ] || sudo_=sudo
work=$(mktemp -d /tmp/dinamo-deploy-XXXXXX)
project="dinamotest$$"
tag="dinamo-test:$$"
started_dockerd=""
built_image=0
cluster_up=0
step_name="start"
step_t0=$SECONDS
t_start=$SECONDS

say() { printf '%s\n' "test-deploy: $*"; }

step() {
    [ "$step_name" = start ] || say "step $step_name: $((SECONDS - step_t0)) s"
    step_name=$1
    step_t0=$SECONDS
    say "step $step_name ..."
}

fail() {
    printf 'FAIL: step %s: %s\n' "$step_name" "$*" >&2
    if [ "$cluster_up" = 1 ]; then
        say "last log lines of every service:" >&2
        compose logs --no-color --tail=15 >&2 2>&1 || true
        compose ps >&2 || true
    fi
    exit 1
}

compose() {
    "${compose_cmd[@]}" -p "$project" -f "$compose_path" -f "$work/override.yml" "$@"
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [ "$keep" = 1 ] && [ "$cluster_up" = 1 ]; then
        say "--keep: cluster $project left up (${compose_cmd[*]} -p $project -f $compose_path" \
            "-f $work/override.yml down -v; docker rmi $tag)"
        exit $rc
    fi
    if [ "$cluster_up" = 1 ]; then
        compose down -v --remove-orphans -t 10 >/dev/null 2>&1 ||
            say "cleanup: compose down failed" >&2
    fi
    docker rm -f -v "$project-offline" >/dev/null 2>&1 || true
    if [ "$built_image" = 1 ]; then
        # Removes this run's images and their untagged parents (sources,
        # binaries) down to the package layers kept as cache.
        docker rmi "$tag" "$tag-build" >/dev/null 2>&1 || say "cleanup: docker rmi $tag failed" >&2
    fi
    if [ -n "$started_dockerd" ]; then
        kill "$started_dockerd" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$started_dockerd" 2>/dev/null || break; sleep 0.2; done
    fi
    rm -rf "$work" 2>/dev/null || $sudo_ rm -rf "$work"
    [ $rc = 0 ] || say "failed after $((SECONDS - t_start)) s" >&2
    exit $rc
}
trap cleanup EXIT
trap 'fail "interrupted"' INT TERM

# ---- deps --------------------------------------------------------------------------
step deps
missing=()
# The engine, not only a client: a machine may carry a docker CLI without
# dockerd (seen: /usr/local/bin/docker alone), and then nothing could start one.
{ command -v docker >/dev/null && { command -v dockerd >/dev/null || docker info >/dev/null 2>&1; }; } ||
    missing+=(docker.io)
command -v docker-compose >/dev/null || docker compose version >/dev/null 2>&1 ||
    missing+=(docker-compose)
command -v debootstrap >/dev/null || missing+=(debootstrap)
command -v curl >/dev/null || missing+=(curl)
command -v jq >/dev/null || missing+=(jq)
command -v npm >/dev/null || missing+=(nodejs npm)
if [ ${#missing[@]} -gt 0 ]; then
    say "installing ${missing[*]}"
    $sudo_ apt-get update -q >/dev/null || fail "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y -q --no-install-recommends \
        "${missing[@]}" >/dev/null || fail "apt-get install ${missing[*]} failed"
fi
# Debian's docker-compose (1.29) or Docker's compose plugin, whichever is here.
if command -v docker-compose >/dev/null; then
    compose_cmd=(docker-compose)
else
    compose_cmd=(docker compose)
fi
say "compose: ${compose_cmd[*]} ($("${compose_cmd[@]}" version --short 2>/dev/null || echo ?))"

# ---- dockerd -----------------------------------------------------------------------
step dockerd
if ! docker info >/dev/null 2>&1; then
    say "no Docker engine answers: starting dockerd (log $work/dockerd.log)"
    $sudo_ dockerd >"$work/dockerd.log" 2>&1 &
    started_dockerd=$!
    for _ in $(seq 150); do docker info >/dev/null 2>&1 && break; sleep 0.2; done
    docker info >/dev/null 2>&1 || fail "dockerd did not come up: $(tail -n 3 "$work/dockerd.log")"
fi

# ---- base image --------------------------------------------------------------------
step base
if ! docker image inspect debian:bookworm-slim >/dev/null 2>&1; then
    say "building debian:bookworm-slim with debootstrap (minbase)"
    $sudo_ debootstrap --variant=minbase bookworm "$work/rootfs" http://deb.debian.org/debian \
        >"$work/debootstrap.log" 2>&1 || fail "debootstrap: $(tail -n 3 "$work/debootstrap.log")"
    $sudo_ tar -C "$work/rootfs" -c . | docker import - debian:bookworm-slim >/dev/null ||
        fail "docker import of the debootstrap tree failed"
    $sudo_ rm -rf "$work/rootfs"
fi

# ---- image -------------------------------------------------------------------------
step image
mkdir -p "$work/src"
git archive HEAD | tar -x -C "$work/src" || fail "git archive HEAD failed"
# The page's uPlot, as `make web` installs it (the image copies it from the
# context): the lockfile's version, integrity-checked, with this host's npm.
(cd "$work/src/web" && npm ci --omit=dev --loglevel=error) >"$work/npm.log" 2>&1 ||
    fail "npm ci in web/: $(tail -n 3 "$work/npm.log")"
read -r -a build_args <<<"${DINAMO_DOCKER_BUILD_ARGS:-}"
built_image=1
# The classic builder: its cache is images, which the cleanup can tell apart.
# The build stage is built and tagged first, so that both stages' package
# layers can be kept as tagged cache (keep_cache) while every image of this
# run's own (sources, binaries) is removed at the end.
export DOCKER_BUILDKIT=0
for target in build final; do
    if [ $target = build ]; then t=(--target build -t "$tag-build"); else t=(-t "$tag"); fi
    nice -n 19 docker build "${build_args[@]}" "${t[@]}" -f "$work/src/deploy/Dockerfile" \
        "$work/src" >>"$work/build.log" 2>&1 || fail "docker build: $(tail -n 5 "$work/build.log")"
done
# Tags the layer of image $1 made by its `apt-get install` as
# dinamo-test-deploy:$2 (untagging the one it replaces, which then goes).
keep_cache() {
    local id old
    id=$(docker history --no-trunc --format '{{.ID}} {{.CreatedBy}}' "$1" |
        awk '/apt-get install/ && $1 ~ /^sha256:/ {print $1; exit}')
    [ -n "$id" ] || return 0
    old=$(docker image inspect -f '{{.Id}}' "dinamo-test-deploy:$2" 2>/dev/null || true)
    docker tag "$id" "dinamo-test-deploy:$2"
    [ -z "$old" ] || [ "$old" = "$id" ] || docker rmi "$old" >/dev/null 2>&1 || true
}
keep_cache "$tag-build" build-packages
keep_cache "$tag" runtime-packages
[ -n "$compose_file" ] || compose_file="$work/src/deploy/docker-compose.yml"
compose_path=$compose_file
keys=$(docker run --rm "$tag" sh -c 'sed -n "/^\[generator\]/,/^\[/p" /etc/dinamo/dinamo.conf' |
    awk -F'[=# ]+' '$1 == "histograms" {print $2}')
[ "$keys" = "$KEYS" ] || fail "the image's config has histograms = '$keys', the test expects $KEYS"

# ---- up ----------------------------------------------------------------------------
step up
mkdir -p "$work/report"
# The test's stream and image: every service of the compose file gets the
# tag; the generator a short, paced stream; the trainers a short lease.
services=$("${compose_cmd[@]}" -f "$compose_path" config --services) ||
    fail "compose cannot read $compose_path"
{
    echo "services:"
    for s in $services; do
        echo "  $s:"
        echo "    image: $tag"
        case $s in
            generator) printf '    environment:\n      DINAMO_GENERATOR_RUNS: "%s"\n      DINAMO_GENERATOR_ANOMALOUS: "%s"\n      DINAMO_GENERATOR_RATE: "%s"\n' \
                "$RUNS" "$ANOMALOUS" "$RATE" ;;
            scorer_s) printf '    environment:\n      DINAMO_SCORER_S_N_HIST: "%s"\n' "$NHIST" ;;
            evaluator) printf '    environment:\n      DINAMO_EVALUATOR_N_HIST: "%s"\n' "$NHIST" ;;
            trainer) printf '    environment:\n      DINAMO_TRAINER_LEASE_S: "%s"\n' "$LEASE_S" ;;
        esac
    done
} >"$work/override.yml"
export DINAMO_REPORT_DIR="$work/report"
grep -qx dashboard <<<"$services" || fail "$compose_path has no dashboard service"
# The dashboard's port on the host's loopback: 8080 as shipped, or the next
# free one (a dashboard of `make run` may hold 8080).
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
dash_port=8080
while port_busy $dash_port; do
    dash_port=$((dash_port + 1))
    [ $dash_port -lt 8180 ] || fail "no free port in 127.0.0.1:8080-8179 for the dashboard"
done
export DINAMO_DASHBOARD_PORT=$dash_port
cluster_up=1
compose up -d --no-build --scale trainer=2 >"$work/up.log" 2>&1 ||
    fail "compose up: $(tail -n 5 "$work/up.log")"

# ---- helpers on the running cluster -----------------------------------------------------
# Container ids of a service, and a container's compose number.
ids() { compose ps -q "$1" 2>/dev/null; }
number() { docker inspect -f '{{index .Config.Labels "com.docker.compose.container-number"}}' "$1"; }
running() { [ "$(docker inspect -f '{{.State.Running}}' "$1" 2>/dev/null)" = true ]; }
# The last "owns N of M keys" of a trainer container (empty before any).
owns() { docker logs "$1" 2>&1 | grep -o 'owns [0-9]* of [0-9]* keys' | tail -n 1 | awk '{print $2}'; }
# Waits up to $1 s until every running trainer owns its fair share of KEYS
# among $2 trainers (one more for the first KEYS mod $2: any split that sums
# to KEYS with each share floor or ceil).
fair_share() {
    local deadline=$((SECONDS + $1)) n=$2
    local lo=$((KEYS / n)) hi=$(((KEYS + n - 1) / n))
    while [ $SECONDS -lt $deadline ]; do
        local total=0 count=0 ok=1 shares=""
        for c in $(ids trainer); do
            running "$c" || continue
            local k
            k=$(owns "$c")
            shares="$shares ${k:-?}"
            count=$((count + 1))
            if [ -z "$k" ] || [ "$k" -lt $lo ] || [ "$k" -gt $hi ]; then ok=0; else total=$((total + k)); fi
        done
        if [ $ok = 1 ] && [ $count = "$n" ] && [ $total = "$KEYS" ]; then
            say "trainers own$shares of $KEYS keys"
            return 0
        fi
        [ -e "$work/report/FINAL" ] && fail "the stream ended before the trainers settled on $n shares (now:$shares)"
        sleep 1
    done
    fail "$n trainers did not settle on fair shares of $KEYS keys in $1 s (now:$shares)"
}

# ---- healthy -----------------------------------------------------------------------
step healthy
deadline=$((SECONDS + 90))
while :; do
    unhealthy=""
    for c in $(compose ps -q); do
        st=$(docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' "$c")
        # the one-shot keys service has no healthcheck: it must have made the keys and exited 0
        if [ "$st" = none ]; then
            st=$(docker inspect -f '{{.State.Status}}:{{.State.ExitCode}}' "$c")
            [ "$st" = exited:0 ] && continue
        fi
        [ "$st" = healthy ] || unhealthy="$unhealthy $(docker inspect -f '{{.Name}}' "$c"):$st"
    done
    [ -z "$unhealthy" ] && break
    [ $SECONDS -lt $deadline ] || fail "not healthy after 90 s:$unhealthy"
    sleep 2
done
c=$(ids generator)
say "$(docker exec "$c" dinamo health --data-dir /var/lib/dinamo --service generator)"
# secured: every service runs CURVE with its own key from the keys volume
for s in registry generator scorer_s scorer_ml trainer evaluator dashboard; do
    for c in $(ids "$s"); do
        # grep reads it all: with -q, docker logs could die of SIGPIPE (pipefail)
        docker logs "$c" 2>&1 | grep "security: CURVE, identity '$s'" >/dev/null ||
            fail "$s runs without security (no 'security: CURVE' line in its log)"
    done
done
say "every service speaks CURVE with its own key"

# ---- share: 2 trainers, then 3 ------------------------------------------------------
step share
fair_share 60 2
compose up -d --no-build --no-recreate --scale trainer=3 >>"$work/up.log" 2>&1 ||
    fail "compose up --scale trainer=3: $(tail -n 5 "$work/up.log")"
fair_share 60 3

# ---- kill -9 one that holds keys ----------------------------------------------------
step kill
victim=""
for c in $(ids trainer); do
    k=$(owns "$c")
    if [ -n "$k" ] && [ "$k" -gt 0 ] && [ "$(number "$c")" != 1 ]; then victim=$c; fi
done
[ -n "$victim" ] || fail "no trainer but the first holds a key"
say "docker kill -s KILL trainer $(number "$victim") (owns $(owns "$victim"))"
kill_ts=$(date +%s)
docker kill -s KILL "$victim" >/dev/null || fail "docker kill failed"
fair_share $((LEASE_S * 4 + 30)) 2
took=0
for c in $(ids trainer); do
    # grep reads it all: with -q it could stop docker logs by SIGPIPE, and under
    # pipefail a found line would count as not found
    running "$c" && docker logs --since "$kill_ts" "$c" 2>&1 |
        grep 'took key .* (from [^n]' >/dev/null && took=1
done
[ $took = 1 ] || fail "no running trainer logged taking a key over from the killed one"

# ---- scale down to 1 --------------------------------------------------------------
step scale
compose up -d --no-build --no-recreate --scale trainer=1 >>"$work/up.log" 2>&1 ||
    fail "compose up --scale trainer=1: $(tail -n 5 "$work/up.log")"
fair_share 60 1

# ---- report ------------------------------------------------------------------------
step report
# The offline reference runs meanwhile, at nice 19: the one trainer left is
# the stream's critical path and must not wait for it (run at the same
# priority, it pushed the stream past 600 s on a loaded machine), but the
# cycles it leaves idle are free. The same datasets (histogram i is seed
# 70 + i) scored by `dinamo score` in the same image, two keys at a time.
mkdir -p "$work/offline"
docker run -d --name "$project-offline" -v "$work/offline:/out" -e KEYS=$KEYS -e RUNS=$RUNS \
    -e A=$ANOMALOUS -e NH=$NHIST "$tag" sh -c '
    one() {
        d=/out/h$1; mkdir -p $d
        nice -n 19 dinamo generate --seed $((70 + $1)) --runs $RUNS --anomalous $A \
            --out $d/data >/dev/null &&
        nice -n 19 dinamo score --method s --in $d/data --n-historical $NH \
            --out $d/scores_s.csv 2>/dev/null &&
        nice -n 19 dinamo score --method ml --in $d/data --seed 0 --out $d/scores_ml.csv 2>/dev/null
    }
    i=0; status=0
    while [ $i -lt $KEYS ]; do
        one $i & p1=$!; pids="$p1"
        if [ $((i + 1)) -lt $KEYS ]; then one $((i + 1)) & pids="$pids $!"; fi
        for p in $pids; do wait $p || status=1; done
        i=$((i + 2))
    done
    chmod -R a+rwX /out
    exit $status' >/dev/null || fail "cannot start the offline reference container"
deadline=$((SECONDS + 900))
while [ ! -e "$work/report/FINAL" ]; do
    [ $SECONDS -lt $deadline ] || fail "no final report after 900 s"
    for s in registry generator scorer_s scorer_ml evaluator; do
        for c in $(ids $s); do
            running "$c" || fail "$s is not running: $(docker logs --tail 3 "$c" 2>&1)"
        done
    done
    sleep 2
done
say "$(docker logs "$(ids evaluator)" 2>&1 | grep -o 'report (final) written.*' | tail -n 1)"

# ---- offline -----------------------------------------------------------------------
step offline
status=$(docker wait "$project-offline") || fail "docker wait on the offline reference failed"
[ "$status" = 0 ] || fail "dinamo generate/score in the image exited $status: $(docker logs --tail 5 "$project-offline" 2>&1)"

# ---- compare -----------------------------------------------------------------------
step compare
for ((i = 0; i < KEYS; i++)); do
    for m in s ml; do
        got="$work/report/scores_${m}_synthetic_h$i.csv"
        want="$work/offline/h$i/scores_$m.csv"
        [ -s "$got" ] || fail "the report has no $(basename "$got")"
        cmp -s "$got" "$want" ||
            fail "synthetic/h$i: the report's $m scores differ from dinamo score's: $(diff "$got" "$want" | head -n 3 | tr '\n' ' ')"
    done
done
say "$KEYS keys x 2 methods: $(wc -l <"$work/offline/h0/scores_ml.csv") lines each, equal to dinamo score byte for byte"

# ---- dashboard ---------------------------------------------------------------------
step dashboard
url="http://127.0.0.1:$dash_port"
dash=$(ids dashboard)
# GET PATH -> the body on stdout; fails the step on anything but 200
get() {
    local code
    code=$(curl -sS -o "$work/get.out" -w '%{http_code}' --max-time 10 "$url$1" 2>"$work/get.err") ||
        fail "GET $url$1: $(cat "$work/get.err")"
    [ "$code" = 200 ] || fail "GET $1: HTTP $code: $(head -c 300 "$work/get.out")"
    cat "$work/get.out"
}
# The run_seqs a method's rows of the report's runs.csv judge bad (the first
# four columns: run,run_seq,method,severity), and the dashboard's list.
report_bad() { awk -F, -v m="$1" 'NR > 1 && $3 == m && $4 == "bad" {print $2}' "$work/report/runs.csv" | sort -n | xargs; }
dash_bad() { # (polled: an error is an answer, not a failure)
    curl -sf --max-time 5 "$url/api/runs?severity=bad&method=$1&limit=1000" | jq -r '.runs[].seq' |
        sort -n | xargs || echo "(no answer)"
}
# Waits up to $1 s for the whole stream in the dashboard and the report's bad
# runs of both methods in its lists; $2 = "first": the first answer must
# already have them (a restarted dashboard serves what its store holds).
dash_caught_up() {
    local deadline=$((SECONDS + $1)) runs ended ok m
    while :; do
        if curl -sf --max-time 5 -o "$work/summary.json" "$url/api/summary"; then
            runs=$(jq -r .runs "$work/summary.json")
            ended=$(jq -r .ended "$work/summary.json")
            ok=1
            [ "$runs" = "$RUNS" ] && [ "$ended" = true ] || ok=0
            for m in s ml; do
                [ "$(dash_bad $m)" = "${want_bad[$m]}" ] || ok=0
                [ "$(jq -r ".counts.$m.bad" "$work/summary.json")" = "$(wc -w <<<"${want_bad[$m]}")" ] || ok=0
            done
            [ $ok = 1 ] && return 0
            [ "${2:-}" != first ] ||
                fail "the restarted dashboard's first answer lacks what its store held: runs $runs of $RUNS, ended $ended; bad S [$(dash_bad s)], ML [$(dash_bad ml)]; the report's S [${want_bad[s]}], ML [${want_bad[ml]}]"
        fi
        [ $SECONDS -lt $deadline ] ||
            fail "after $1 s the dashboard has runs ${runs:-?} of $RUNS (ended ${ended:-?}); bad S [$(dash_bad s 2>/dev/null)], ML [$(dash_bad ml)]; the report's S [${want_bad[s]}], ML [${want_bad[ml]}]"
        sleep 1
    done
}
declare -A want_bad
for m in s ml; do
    want_bad[$m]=$(report_bad $m)
    [ -n "${want_bad[$m]}" ] || fail "the report's runs.csv judges no run bad by $m: nothing to compare"
done
dash_caught_up 60
say "the dashboard has the $RUNS runs; its bad runs are the report's: $(wc -w <<<"${want_bad[s]}") by S, $(wc -w <<<"${want_bad[ml]}") by ML"
# (each into a file first: a reader that stops early would kill get's cat
# with SIGPIPE, failing the pipeline under pipefail)
get / >"$work/index.html"
cmp -s "$work/index.html" "$work/src/web/index.html" || fail "GET / is not web/index.html"
uplot=$(jq -r '.packages["node_modules/uplot"].version' "$work/src/web/package-lock.json")
get /static/uplot/uPlot.iife.min.js >"$work/uplot.js"
head -n 1 "$work/uplot.js" | grep -F "(v$uplot)" >/dev/null ||
    fail "GET /static/uplot/uPlot.iife.min.js is not uPlot $uplot: $(head -c 100 "$work/uplot.js")"
get /static/uplot/uPlot.min.css >"$work/uplot.css"
grep -F '.uplot' "$work/uplot.css" >/dev/null || fail "GET /static/uplot/uPlot.min.css is not uPlot's"
say "it serves the page and uPlot $uplot"
# A user in the dashboard's own volume, then a restart.
user=deploytest password="test-deploy-$$-password"
docker exec -i "$dash" dinamo user add "$user" --file /var/lib/dinamo/users --password-stdin \
    <<<"$password" >"$work/user.log" 2>&1 || fail "dinamo user add in the dashboard: $(cat "$work/user.log")"
compose restart -t 10 dashboard >>"$work/up.log" 2>&1 || fail "compose restart dashboard: $(tail -n 3 "$work/up.log")"
deadline=$((SECONDS + 60))
until curl -sf --max-time 2 -o /dev/null "$url/api/summary"; do
    [ $SECONDS -lt $deadline ] || fail "the restarted dashboard did not answer in 60 s"
    sleep 0.5
done
dash_caught_up 0 first
say "restarted, it served the whole stream from its store at its first answer"
# post PATH BODY [CSRF] -> the HTTP code; the body in $work/post.out
post() {
    local h=()
    [ -z "${3:-}" ] || h=(-H "X-CSRF-Token: $3")
    curl -sS -o "$work/post.out" -w '%{http_code}' --max-time 10 -b "$work/cookies" -c "$work/cookies" \
        -H 'Content-Type: application/json' "${h[@]}" --data-binary "$2" "$url$1" 2>"$work/post.err" ||
        fail "POST $1: $(cat "$work/post.err")"
}
code=$(post /api/login "{\"user\":\"$user\",\"password\":\"$password\"}")
[ "$code" = 200 ] || fail "login: HTTP $code: $(head -c 300 "$work/post.out")"
csrf=$(jq -r '.csrf // empty' "$work/post.out")
[ -n "$csrf" ] || fail "login answered without a CSRF token: $(head -c 300 "$work/post.out")"
seq=${want_bad[s]%% *}
verdict="{\"seq\":$seq,\"verdict\":\"bad\",\"reason\":\"test-deploy\"}"
code=$(post /api/label "$verdict")
[ "$code" = 403 ] || fail "a verdict without the CSRF token: HTTP $code (want 403): $(head -c 300 "$work/post.out")"
code=$(post /api/label "$verdict" "$csrf")
[ "$code" = 202 ] || fail "a verdict with the CSRF token: HTTP $code (want 202): $(head -c 300 "$work/post.out")"
# Sent under the dashboard's key (roles labels and delegate), the label
# reaches the events log with the user as who, and comes back to the page.
deadline=$((SECONDS + 30))
until get "/api/run/$seq" >"$work/run.json" && jq -e --arg u "$user" \
    '[.labels[] | select(.source == "shifter" and .who == $u and .verdict == "bad")] | length == 1' \
    "$work/run.json" >/dev/null; do
    [ $SECONDS -lt $deadline ] || fail "run_seq $seq's labels lack the verdict of '$user' after 30 s: $(jq -c .labels "$work/run.json")"
    sleep 1
done
say "login, CSRF (403 without it), and $user's verdict on run_seq $seq came back through the events log"

step done
say "PASS in $((SECONDS - t_start)) s"
