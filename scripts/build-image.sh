#!/usr/bin/env bash
# Builds the exportgate image with buildah, with no Docker engine and no registry, then tests it.
#
#   scripts/build-image.sh [--no-test] [--binary PATH]
#
# `make image` compiles exportgate inside the image's build stage (from source, any host).
# `make test` passes --binary build/exportgate: the image then packages the binary the other test
# steps have just tested (the Dockerfile's `prebuilt` stage), which saves a second compile of the
# whole product (8-10 min of a cold CI run on 2 cores). The host must be Debian bookworm like the
# base: the runtime package list is taken from the host's dpkg for that binary.
#
# 1. base image localhost/exportgate-base:bookworm: a debootstrap --variant=minbase rootfs of
#    Debian bookworm, cached as ${EXPORTGATE_CACHE:-~/.cache/exportgate}/rootfs-bookworm.tar;
# 2. `buildah bud` of the Dockerfile with BASE set to it (chroot isolation, vfs storage: works
#    as root inside an unprivileged container);
# 3. test: the image's user is not root and `exportgate version` and `exportgate check` on the
#    example Job run inside it.
# Installs buildah and debootstrap with apt-get when they are missing. Image: $IMAGE
# (default localhost/exportgate:<version from CMakeLists.txt>, also tagged :latest).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
cache="${EXPORTGATE_CACHE:-$HOME/.cache/exportgate}"
rootfs_tar="$cache/rootfs-bookworm.tar"
base=localhost/exportgate-base:bookworm
version="$(sed -n 's/^project(exportgate VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)"
image="${IMAGE:-localhost/exportgate:${version:-dev}}"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
export STORAGE_DRIVER=vfs BUILDAH_ISOLATION=chroot
bah() { buildah --storage-driver vfs "$@"; }
log() { echo "build-image: $*" >&2; }
t0=$SECONDS

run_test=1
binary=""
while (($#)); do
	case "$1" in
	--no-test) run_test=0 ;;
	--binary)
		binary="${2:?--binary needs a path}"
		shift
		;;
	*)
		echo "usage: $0 [--no-test] [--binary PATH]" >&2
		exit 2
		;;
	esac
	shift
done

missing=()
command -v buildah >/dev/null || missing+=(buildah)
command -v debootstrap >/dev/null || missing+=(debootstrap)
if ((${#missing[@]})); then
	log "installing ${missing[*]}"
	sudo=""
	[[ $(id -u) -eq 0 ]] || sudo=sudo
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
[[ $(id -u) -eq 0 ]] || {
	log "run as root (debootstrap and buildah's vfs/chroot mode need it)"
	exit 1
}

# --- 1. the base image
if ! bah inspect --type image "$base" >/dev/null 2>&1; then
	if [[ ! -s "$rootfs_tar" ]]; then
		log "debootstrap bookworm (minbase) from $mirror"
		mkdir -p "$cache"
		work="$(mktemp -d "$cache/.rootfs-XXXXXX")"
		trap 'umount -R "$work/fs/proc" 2>/dev/null || true; rm -rf "$work"' EXIT
		debootstrap --variant=minbase --include=ca-certificates bookworm "$work/fs" "$mirror" >"$work/log" 2>&1 || {
			tail -n 30 "$work/log" >&2
			log "debootstrap failed"
			exit 1
		}
		# Slim it: no apt lists, caches, docs or logs in the image.
		rm -rf "$work/fs"/var/lib/apt/lists/* "$work/fs"/var/cache/apt/*.bin "$work/fs"/var/cache/apt/archives/*.deb \
			"$work/fs"/usr/share/doc/* "$work/fs"/usr/share/man/* "$work/fs"/var/log/* "$work/fs"/tmp/*
		printf 'deb %s bookworm main\ndeb %s bookworm-updates main\ndeb http://deb.debian.org/debian-security bookworm-security main\n' \
			"$mirror" "$mirror" >"$work/fs/etc/apt/sources.list"
		# Keep the rootfs tarball reproducible-ish: fixed owner and order.
		tar -C "$work/fs" --numeric-owner --sort=name -cf "$rootfs_tar.tmp" .
		mv "$rootfs_tar.tmp" "$rootfs_tar"
		rm -rf "$work"
		trap - EXIT
		log "rootfs cached in $rootfs_tar ($((SECONDS - t0)) s)"
	fi
	log "importing $rootfs_tar as $base"
	ctr="$(bah from scratch)"
	mnt="$(bah mount "$ctr")"
	tar -C "$mnt" --numeric-owner -xf "$rootfs_tar"
	bah umount "$ctr" >/dev/null
	bah config --cmd /bin/bash --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		--label org.opencontainers.image.description="Debian bookworm minbase (debootstrap)" "$ctr"
	bah commit --rm -q "$ctr" "$base" >/dev/null
fi
t_base=$((SECONDS - t0))

# --- 2. the image
# Always passed: buildah 1.28 (bookworm) does not resolve a stage named by an ARG's default.
stage_args=(--build-arg BINARY_STAGE=build)
if [[ -n "$binary" ]]; then
	[[ -x "$binary" ]] || {
		log "--binary $binary: not an executable file"
		exit 1
	}
	grep -qs '^VERSION_CODENAME=bookworm' /etc/os-release || {
		log "--binary needs a Debian bookworm host (its libraries must be the image's); use make image"
		exit 1
	}
	rm -rf .image
	mkdir -p .image
	trap 'rm -rf "$root/.image"' EXIT
	strip -o .image/exportgate "$binary"
	# The Debian packages of the shared libraries it links (as the build stage computes them; with
	# merged /usr, dpkg knows some under /lib).
	for lib in $(ldd .image/exportgate | awk '$3 ~ /^\// {print $3}' | xargs -r realpath); do
		dpkg -S "$lib" 2>/dev/null || dpkg -S "${lib#/usr}" 2>/dev/null || {
			log "no Debian package owns $lib (linked by $binary)"
			exit 1
		}
	done | cut -d: -f1 | sort -u | grep -vx -e libc6 -e libgcc-s1 -e libstdc++6 >.image/runtime-packages
	[[ -s .image/runtime-packages ]] || {
		log "no runtime packages found for $binary (ldd or dpkg -S failed)"
		exit 1
	}
	log "packaging the prebuilt $binary; runtime packages: $(tr '\n' ' ' <.image/runtime-packages)"
	stage_args=(--build-arg BINARY_STAGE=prebuilt)
	want_sha="$(sha256sum .image/exportgate | cut -d' ' -f1)"
fi
log "buildah bud -> $image (base ready after ${t_base} s)"
t1=$SECONDS
bah bud --isolation chroot --layers --build-arg BASE="$base" --build-arg JOBS="${JOBS:-2}" "${stage_args[@]}" \
	-t "$image" -t localhost/exportgate:latest -f Dockerfile . >&2
[[ -z "$binary" ]] || {
	rm -rf .image
	trap - EXIT
}
t_build=$((SECONDS - t1))

# --- 3. test it
if ((run_test)); then
	log "testing $image"
	ctr="$(bah from "$image")"
	trap 'bah rm "$ctr" >/dev/null 2>&1 || true' EXIT
	user="$(bah inspect --type image -f '{{.OCIv1.Config.User}}' "$image")"
	[[ "$user" == 65532:65532 ]] || {
		log "FAIL: image user is '$user', want 65532:65532"
		exit 1
	}
	out="$(bah run --isolation chroot --user 65532:65532 "$ctr" -- /usr/bin/exportgate version)"
	log "exportgate version: $out"
	[[ -n "$out" ]] || {
		log "FAIL: empty version"
		exit 1
	}
	if [[ -n "$binary" ]]; then
		got_sha="$(bah run --isolation chroot "$ctr" -- sha256sum /usr/bin/exportgate | cut -d' ' -f1)"
		[[ "$got_sha" == "$want_sha" ]] || {
			log "FAIL: the image's /usr/bin/exportgate ($got_sha) is not the stripped $binary ($want_sha)"
			exit 1
		}
	fi
	id_out="$(bah run --isolation chroot --user 65532:65532 "$ctr" -- /usr/bin/id -u)"
	[[ "$id_out" == 65532 ]] || {
		log "FAIL: runs as uid $id_out"
		exit 1
	}
	# The example asks for 16 H100s in a tier-2 jurisdiction with no authorization: exit 0
	# (admitted) or 1 (denied) are both answers; 2 (bad input) or a crash is a failure.
	rc=0
	bah run --isolation chroot --user 65532:65532 "$ctr" -- /usr/bin/exportgate check \
		-f /usr/share/exportgate/examples/gpu-job.yaml --jurisdiction SG -o json >"$cache/image-check.json" || rc=$?
	if ((rc > 1)); then
		cat "$cache/image-check.json" >&2
		log "FAIL: exportgate check exited $rc"
		exit 1
	fi
	log "exportgate check exited $rc: $(head -c 300 "$cache/image-check.json")"
	bah rm "$ctr" >/dev/null
	trap - EXIT
	log "image test passed"
fi
# sed reads all of it: `head -n 1` exits at the first line, and under pipefail the SIGPIPE that
# buildah then gets (several images listed) failed the whole build after the image test passed.
size="$(bah images --format '{{.Size}}' "$image" 2>/dev/null | sed -n 1p)"
log "done: $image (${size:-?}); base ${t_base} s, build ${t_build} s, total $((SECONDS - t0)) s"
