# Sourced by the scripts that run programs in a fresh root with chroot (not a test itself:
# only tests/scripts/*.sh are). The root gets /proc and a /dev of its own (a small tmpfs with
# the usual device nodes and a new devpts instance), never the host's /dev bind-mounted: a
# package script or a stray `rm -rf` in the root cannot touch the host's /dev/null.

# chroot_mount ROOT: mounts /proc, /dev and /dev/pts in ROOT.
chroot_mount() {
  local root=$1 node
  mount -t proc proc "$root/proc"
  mount -t tmpfs -o mode=755,size=1m,nosuid tmpfs "$root/dev"
  for node in "null 1 3" "zero 1 5" "full 1 7" "random 1 8" "urandom 1 9" "tty 5 0"; do
    set -- $node
    mknod -m 666 "$root/dev/$1" c "$2" "$3"
  done
  mkdir "$root/dev/pts" "$root/dev/shm"
  mount -t devpts -o newinstance,ptmxmode=0666,mode=620 devpts "$root/dev/pts"
  ln -s pts/ptmx "$root/dev/ptmx"
  ln -s /proc/self/fd "$root/dev/fd"
  ln -s /proc/self/fd/0 "$root/dev/stdin"
  ln -s /proc/self/fd/1 "$root/dev/stdout"
  ln -s /proc/self/fd/2 "$root/dev/stderr"
}

# chroot_umount ROOT: unmounts what chroot_mount mounted (and anything below ROOT); fails
# when something under ROOT is still mounted, so that the caller never deletes through it.
chroot_umount() {
  local root=$1 mount_point
  for mount_point in dev/pts dev proc; do umount "$root/$mount_point" 2>/dev/null || true; done
  ! grep -q " $root/" /proc/mounts
}
