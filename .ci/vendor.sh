#!/usr/bin/env bash
# Vendored JavaScript, fetched from the npm registry with npm itself and
# checked against the checksums recorded next to it:
#
#   internal/console/static/vendor/   htmx.org (served by the console)
#   cmd/rapport/testdata/axe/          axe-core (browser tests only)
#
# Each directory's CHECKSUMS names the package and version, the tarball's
# SHA-256 and npm integrity string, and each vendored file's SHA-256 with
# the path it comes from in the tarball.
#
#   .ci/vendor.sh            re-fetch every package and verify: the tarball
#                            against its sums, each file in it against its
#                            sum, and the committed file against both
#   .ci/vendor.sh --restore  the same, then copy the verified files into place
#   .ci/vendor.sh --record DIR PACKAGE VERSION FILE=FROM...
#                            vendor a (new) version: fetch it, copy the files
#                            and write DIR/CHECKSUMS (review the diff!)
set -euo pipefail
cd "$(dirname "$0")/.."

sha256() { sha256sum "$1" | cut -d' ' -f1; }
integrity() { echo "sha512-$(openssl dgst -sha512 -binary "$1" | base64 -w0)"; }

# fetch PACKAGE VERSION DEST: npm pack into DEST, prints the tarball path.
fetch() {
  (cd "$3" && npm pack --silent "$1@$2" >/dev/null)
  ls "$3"/*.tgz
}

record() {
  local dir=$1 pkg=$2 version=$3; shift 3
  local tmp; tmp=$(mktemp -d); trap 'rm -rf "$tmp"' RETURN
  local tgz; tgz=$(fetch "$pkg" "$version" "$tmp")
  tar -xzf "$tgz" -C "$tmp"
  {
    echo "# $pkg $version from the npm registry (npm pack $pkg@$version); verify with .ci/vendor.sh"
    echo "package $pkg $version"
    echo "tarball-sha256 $(sha256 "$tgz")"
    echo "tarball-integrity $(integrity "$tgz")"
    for spec in "$@"; do
      local file=${spec%%=*} from=${spec#*=}
      mkdir -p "$dir/$(dirname "$file")"
      cp "$tmp/$from" "$dir/$file"
      echo "file $file $from $(sha256 "$dir/$file")"
    done
  } >"$dir/CHECKSUMS"
  echo "vendor.sh: recorded $pkg $version in $dir/CHECKSUMS" >&2
}

# verify DIR [restore]
verify() {
  local dir=$1 restore=${2:-}
  local sums="$dir/CHECKSUMS"
  local pkg version
  read -r _ pkg version < <(grep '^package ' "$sums")
  local tmp; tmp=$(mktemp -d); trap 'rm -rf "$tmp"' RETURN
  local tgz; tgz=$(fetch "$pkg" "$version" "$tmp")
  local want
  want=$(awk '$1=="tarball-sha256"{print $2}' "$sums")
  [ "$(sha256 "$tgz")" = "$want" ] || { echo "vendor.sh: $pkg $version: tarball SHA-256 differs from $sums" >&2; return 1; }
  want=$(awk '$1=="tarball-integrity"{print $2}' "$sums")
  [ "$(integrity "$tgz")" = "$want" ] || { echo "vendor.sh: $pkg $version: npm integrity differs from $sums" >&2; return 1; }
  tar -xzf "$tgz" -C "$tmp"
  local file from sum
  while read -r _ file from sum; do
    [ "$(sha256 "$tmp/$from")" = "$sum" ] || { echo "vendor.sh: $pkg: $from in the tarball differs from $sums" >&2; return 1; }
    if [ -n "$restore" ]; then cp "$tmp/$from" "$dir/$file"; fi
    [ -f "$dir/$file" ] && [ "$(sha256 "$dir/$file")" = "$sum" ] ||
      { echo "vendor.sh: $dir/$file is not $pkg $version's $from (run with --restore)" >&2; return 1; }
  done < <(grep '^file ' "$sums")
  echo "vendor.sh: $dir: $pkg $version verified" >&2
}

case "${1:-}" in
  --record) shift; record "$@" ;;
  --restore|"")
    verify internal/console/static/vendor "${1:-}"
    verify cmd/rapport/testdata/axe "${1:-}"
    ;;
  *) echo "usage: .ci/vendor.sh [--restore | --record DIR PACKAGE VERSION FILE=FROM...]" >&2; exit 2 ;;
esac
