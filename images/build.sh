#!/usr/bin/env bash
# Builds every Datalab image from the repository root, all named from one registry prefix:
#   $REGISTRY/datalab-hub:<version in pyproject.toml>      (Dockerfile)
#   $REGISTRY/datalab-python:$TAG and $TAG-gpu             (images/Dockerfile, targets python and python-gpu)
#   $REGISTRY/datalab-r:$TAG                               (images/Dockerfile, target r)
#   $REGISTRY/datalab-vscode:$TAG                          (images/Dockerfile, target vscode)
#   $REGISTRY/postgres:$POSTGRES_TAG                       (a mirror of the official image, the sidecar)
# REGISTRY defaults to `registry:` in profiles/catalog.yaml, which names the same images.
#
# Usage: images/build.sh [--push] [--dry-run]     e.g. REGISTRY=registry.example.org/datalab images/build.sh --push
set -euo pipefail
cd "$(dirname "$0")/.."

TAG="${TAG:-2026.11}"
POSTGRES_TAG="${POSTGRES_TAG:-16.6}"
DOCKER="${DOCKER:-docker}"
push=false
dry=false
for arg in "$@"; do
  case "$arg" in
    --push) push=true ;;
    --dry-run) dry=true ;;
    *) echo "usage: $0 [--push] [--dry-run]" >&2; exit 2 ;;
  esac
done

version="$(sed -n 's/^version = "\(.*\)"$/\1/p' pyproject.toml | head -n 1)"
registry_default="$(sed -n 's/^registry: *//p' profiles/catalog.yaml | head -n 1)"
REGISTRY="${REGISTRY:-$registry_default}"
if [ -z "$version" ] || [ -z "$REGISTRY" ]; then
  echo "build.sh: cannot read the version from pyproject.toml or the registry from profiles/catalog.yaml" >&2
  exit 1
fi

run() {
  if $dry; then echo "$*"; else "$@"; fi
}

images=()
build() {  # build NAME:TAG DOCKERFILE [build args...]
  local ref="$REGISTRY/$1" file="$2"
  shift 2
  run "$DOCKER" build --pull --file "$file" --build-arg "DATALAB_VERSION=$version" "$@" --tag "$ref" .
  images+=("$ref")
}

# The wheel of every image carries the JupyterLab extension, built from labextension/ first.
run scripts/bootstrap.sh labextension
build "datalab-hub:$version" Dockerfile
build "datalab-python:$TAG" images/Dockerfile --target python
build "datalab-python:$TAG-gpu" images/Dockerfile --target python-gpu
build "datalab-r:$TAG" images/Dockerfile --target r
build "datalab-vscode:$TAG" images/Dockerfile --target vscode
run "$DOCKER" pull "docker.io/library/postgres:$POSTGRES_TAG"
run "$DOCKER" tag "docker.io/library/postgres:$POSTGRES_TAG" "$REGISTRY/postgres:$POSTGRES_TAG"
images+=("$REGISTRY/postgres:$POSTGRES_TAG")

if $push; then
  for ref in "${images[@]}"; do run "$DOCKER" push "$ref"; done
fi
printf 'image %s\n' "${images[@]}"
