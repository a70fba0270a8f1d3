#!/usr/bin/env bash
# Build a busybox image by hand, with no registry: a rootfs of the host's
# static busybox plus one symlink per applet, then an OCI image layout
# (index.json -> manifest -> config + one uncompressed layer, every blob
# named by its sha256 and sized exactly) packed as a tarball that
# `ctr images import` takes. Deterministic: same busybox, same digests.
#
#   mkimage.sh OUTDIR [NAME]
# writes OUTDIR/rootfs.tar (for `podman import`), OUTDIR/oci.tar, and
# OUTDIR/docker.tar (docker-archive: manifest.json + config + layer.tar, what
# `docker load` of docker 20.10 takes), and prints the image name (default
# docker.io/library/busybox-moat:latest).
# MKIMAGE_ROOTFS=DIR packs DIR instead of the busybox rootfs and
# MKIMAGE_CMD='["/pause"]' sets the image's Cmd (default ["sh"]): cri.sh
# makes its pause image this way.
set -euo pipefail
out=${1:?usage: mkimage.sh OUTDIR [NAME]}
name=${2:-docker.io/library/busybox-moat:latest}
cmd=${MKIMAGE_CMD:-'["sh"]'}

mkdir -p "$out"
work=$(mktemp -d "$out/.mkimage.XXXXXX")
trap 'rm -rf "$work"' EXIT
r=$work/rootfs
if [ -n "${MKIMAGE_ROOTFS:-}" ]; then
    cp -a "$MKIMAGE_ROOTFS" "$r"
else
bb=${BUSYBOX:-/bin/busybox}
file -L "$bb" 2>/dev/null | grep -q 'statically linked' || {
    echo "mkimage: $bb is not a static busybox (apt-get install busybox-static)" >&2; exit 1; }
mkdir -p "$r"/{bin,etc,tmp,proc,sys,dev,root,var,run}
chmod 1777 "$r/tmp"
cp "$bb" "$r/bin/busybox"
for a in $("$bb" --list); do
    [ "$a" = busybox ] || ln -sf busybox "$r/bin/$a"
done
ln -s bin "$r/sbin"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$r/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$r/etc/group"
echo moat-stack >"$r/etc/hostname"
fi

tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner \
    -C "$r" -cf "$out/rootfs.tar" .

oci=$work/oci
mkdir -p "$oci/blobs/sha256"
blob() { # FILE -> moves it into blobs/, prints "digest size"
    local d s
    d=$(sha256sum "$1" | cut -d' ' -f1)
    s=$(stat -c %s "$1")
    mv "$1" "$oci/blobs/sha256/$d"
    echo "$d $s"
}
cp "$out/rootfs.tar" "$work/layer"
read -r ld ls < <(blob "$work/layer")

jq -cn --arg diff "sha256:$ld" --argjson cmd "$cmd" '{
  architecture: "amd64", os: "linux", created: "1970-01-01T00:00:00Z",
  config: {Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
           Cmd: $cmd, WorkingDir: "/"},
  rootfs: {type: "layers", diff_ids: [$diff]},
  history: [{created: "1970-01-01T00:00:00Z", created_by: "tests/stack/mkimage.sh"}]
}' >"$work/config"
read -r cd cs < <(blob "$work/config")

jq -cn --arg cd "sha256:$cd" --argjson cs "$cs" --arg ld "sha256:$ld" --argjson ls "$ls" '{
  schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json",
  config: {mediaType: "application/vnd.oci.image.config.v1+json", digest: $cd, size: $cs},
  layers: [{mediaType: "application/vnd.oci.image.layer.v1.tar", digest: $ld, size: $ls}]
}' >"$work/manifest"
read -r md ms < <(blob "$work/manifest")

jq -cn --arg md "sha256:$md" --argjson ms "$ms" --arg name "$name" '{
  schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json",
  manifests: [{mediaType: "application/vnd.oci.image.manifest.v1+json",
    digest: $md, size: $ms, platform: {architecture: "amd64", os: "linux"},
    annotations: {"io.containerd.image.name": $name,
                  "org.opencontainers.image.ref.name": ($name | sub(".*:"; ""))}}]
}' >"$oci/index.json"
echo '{"imageLayoutVersion":"1.0.0"}' >"$oci/oci-layout"
tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner \
    -C "$oci" -cf "$out/oci.tar" oci-layout index.json blobs

# docker-archive (docker save's format): docker 20.10's `docker load` does
# not take an OCI layout.
d=$work/docker
mkdir -p "$d"
cp "$oci/blobs/sha256/$cd" "$d/$cd.json"
mkdir -p "$d/$ld"
cp "$out/rootfs.tar" "$d/$ld/layer.tar"
jq -cn --arg c "$cd.json" --arg l "$ld/layer.tar" --arg name "$name" \
    '[{Config: $c, RepoTags: [$name | sub("^docker.io/library/"; "")], Layers: [$l]}]' >"$d/manifest.json"
tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner \
    -C "$d" -cf "$out/docker.tar" .
echo "$name"
