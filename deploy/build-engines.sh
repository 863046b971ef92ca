#!/usr/bin/env bash
# Builds the TensorRT engines of a model repository made by `infergate repo build --target t4|p100`
# on the GPU host, then checks that Triton loads every model of it.
#
# It reads REPOSITORY/engines.tsv (written by `repo build`; never config.pbtxt): the container
# images of the target, and per engine its ONNX source, the model.plan to write, the precision,
# the INT8 calibration cache and trtexec's min/opt/max shapes. Engines are built with trtexec in
# the TensorRT container of the same NGC release as the Triton image that serves them: an engine
# only loads in the TensorRT version that built it.
set -euo pipefail

usage() {
  cat <<'USAGE'
usage: deploy/build-engines.sh [options] REPOSITORY

Builds REPOSITORY/<model>/1/model.plan for every engine listed in REPOSITORY/engines.tsv with
trtexec (INT8 with the calibration cache for t4, FP16 for p100), then starts Triton on
REPOSITORY and waits until every model is READY (GET /v2/models/<model>/ready).

options:
  --dry-run            print the docker and curl commands instead of running them
  --gpu N              the GPU to build on and serve from (default 0)
  --triton-url URL     check readiness on a running Triton serving REPOSITORY (e.g. the compose
                       service with its port published), loading each model first, instead of
                       starting a temporary Triton container
  --http-port PORT     host port of the temporary Triton's HTTP endpoint (default 18000)
  --ready-timeout S    seconds to wait for the models to become ready (default 300)
  --skip-triton        build the engines only
  --force              rebuild engines that already exist
  -h, --help           this text
USAGE
}

dry_run=0
gpu=0
triton_url=""
http_port=18000
ready_timeout=300
skip_triton=0
force=0
repository=""

while [[ $# -gt 0 ]]; do
  case "$1" in
    --dry-run) dry_run=1 ;;
    --gpu) gpu="${2:?--gpu needs a value}"; shift ;;
    --triton-url) triton_url="${2:?--triton-url needs a value}"; shift ;;
    --http-port) http_port="${2:?--http-port needs a value}"; shift ;;
    --ready-timeout) ready_timeout="${2:?--ready-timeout needs a value}"; shift ;;
    --skip-triton) skip_triton=1 ;;
    --force) force=1 ;;
    -h | --help) usage; exit 0 ;;
    -*) echo "build-engines: unknown option '$1'" >&2; usage >&2; exit 2 ;;
    *)
      if [[ -n "$repository" ]]; then
        echo "build-engines: one REPOSITORY only" >&2
        exit 2
      fi
      repository="$1"
      ;;
  esac
  shift
done

if [[ -z "$repository" ]]; then
  usage >&2
  exit 2
fi

log() { printf 'build-engines: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# Prints a command (shell-quoted) in a dry run, runs it otherwise.
run() {
  if [[ $dry_run -eq 1 ]]; then
    local quoted=()
    local arg
    for arg in "$@"; do quoted+=("$(printf '%q' "$arg")"); done
    printf '%s\n' "${quoted[*]}"
  else
    "$@"
  fi
}

manifest="$repository/engines.tsv"
[[ -f "$manifest" ]] || die "$manifest not found: build the repository with 'infergate repo build --target t4|p100' first"
repo_abs="$(cd "$repository" && pwd)"

# A '# key: value' line of the manifest.
manifest_value() { sed -n "s/^# $1: //p" "$manifest" | head -n 1; }

target="$(manifest_value target)"
tensorrt_image="$(manifest_value tensorrt_image)"
triton_image="$(manifest_value triton_image)"
read -r -a trtexec_flags <<<"$(manifest_value trtexec_flags)"
read -r -a models <<<"$(manifest_value models)"
[[ "$target" == "t4" || "$target" == "p100" ]] || die "$manifest is for target '$target': only t4 and p100 have engines"

engines=()
while IFS=$'\t' read -r model onnx plan precision calibration min_shapes opt_shapes max_shapes; do
  [[ -z "$model" || "$model" == \#* ]] && continue
  engines+=("$model"$'\t'"$onnx"$'\t'"$plan"$'\t'"$precision"$'\t'"$calibration"$'\t'"$min_shapes"$'\t'"$opt_shapes"$'\t'"$max_shapes")
done <"$manifest"
log "target $target: ${#engines[@]} engine(s) with $tensorrt_image, then Triton ($triton_image)"

# Every input is checked before the first (long) build starts.
for line in "${engines[@]}"; do
  IFS=$'\t' read -r model onnx _ precision calibration _ <<<"$line"
  [[ -f "$repository/$onnx" ]] || die "$model: $repository/$onnx is missing; rebuild the repository"
  if [[ "$precision" == "INT8" && ! -f "$repository/$calibration" ]]; then
    message="$model: INT8 needs the calibration cache $repository/$calibration; make it with: infergate calibrate --model $model --images <images> --repository $repository --out $repository/$calibration"
    if [[ $dry_run -eq 1 ]]; then log "warning: $message"; else die "$message"; fi
  fi
done
if [[ $dry_run -eq 0 ]]; then
  command -v docker >/dev/null || die "docker not found: this runs on the GPU host, with the NVIDIA container toolkit"
fi

index=0
for line in "${engines[@]}"; do
  index=$((index + 1))
  IFS=$'\t' read -r model onnx plan precision calibration min_shapes opt_shapes max_shapes <<<"$line"
  if [[ -f "$repository/$plan" && $force -eq 0 && $dry_run -eq 0 ]]; then
    log "[$index/${#engines[@]}] $model: $plan exists, kept (--force rebuilds it)"
    continue
  fi
  log "[$index/${#engines[@]}] $model: $precision engine $plan (shapes $min_shapes .. $max_shapes)"
  args=(--onnx="/models/$onnx" "${trtexec_flags[@]}")
  [[ "$precision" == "INT8" ]] && args+=(--calib="/models/$calibration")
  args+=(--minShapes="$min_shapes" --optShapes="$opt_shapes" --maxShapes="$max_shapes" --saveEngine="/models/$plan")
  run docker run --rm --gpus "device=$gpu" -v "$repo_abs:/models" "$tensorrt_image" trtexec "${args[@]}"
  log "[$index/${#engines[@]}] $model: done"
done

[[ $skip_triton -eq 1 ]] && { log "engines built; Triton check skipped"; exit 0; }

container=""
if [[ -z "$triton_url" ]]; then
  container="infergate-build-engines-$$"
  triton_url="http://127.0.0.1:$http_port"
  log "starting Triton ($triton_image) on $repository, HTTP on $triton_url"
  run docker run -d --rm --name "$container" --gpus "device=$gpu" -p "127.0.0.1:$http_port:8000" \
    -v "$repo_abs:/models:ro" "$triton_image" tritonserver --model-repository=/models \
    --model-control-mode=explicit "--load-model=*" --strict-readiness=true
  if [[ $dry_run -eq 0 ]]; then
    trap 'docker logs --tail 50 "$container" >&2 || true; docker stop "$container" >/dev/null || true' EXIT
  fi
else
  log "loading every model on $triton_url"
  for model in "${models[@]}"; do
    run curl -fsS -X POST "$triton_url/v2/repository/models/$model/load" -o /dev/null
  done
fi

log "waiting up to ${ready_timeout}s for ${#models[@]} model(s) to become READY"
for model in "${models[@]}"; do
  if [[ $dry_run -eq 1 ]]; then
    run curl -fsS "$triton_url/v2/models/$model/ready"
    continue
  fi
  deadline=$((SECONDS + ready_timeout))
  until curl -fsS "$triton_url/v2/models/$model/ready" -o /dev/null 2>/dev/null; do
    ((SECONDS < deadline)) || die "$model did not become READY within ${ready_timeout}s (Triton's log follows)"
    sleep 2
  done
  log "$model: READY"
done
if [[ $dry_run -eq 1 ]]; then log "dry run: nothing was run"; else log "all ${#models[@]} model(s) READY on $target"; fi
