#!/bin/bash
# PID 1 of a test-fleet host: a private mount, PID and UTS namespace. Gives
# the host its own /nix, /run, users and sudoers, then runs sshd and reaps
# whatever the services leave behind. Killing this process ends the host.
set -eu
H=$1
hostname "$2"
mount --make-rprivate /
mount --bind "$H/nix" /nix
mount --bind "$H/run" /run
for f in passwd shadow group sudoers hosts; do mount --bind "$H/etc/$f" "/etc/$f"; done
# root's own home: the machine's dotfiles (a .bashrc that runs pyenv, say)
# must not run, or block, in every ssh command of every host.
mount --bind "$H/home/root" /root
mount --bind "$H/bin/systemctl" /usr/bin/systemctl
mount --bind "$H/bin/journalctl" /usr/bin/journalctl
# Transient units, as systemd-run starts them (where the machine has a
# systemd-run to stand in for); without it the host has no systemd at all.
if [ -e /usr/bin/systemd-run ]; then
  mount --bind "$H/bin/systemd-run" /usr/bin/systemd-run
  mkdir -p /run/systemd/system
fi
mkdir -p /run/sshd /run/fakesystemd
# As on NixOS: a nix-daemon owns the store, and the login user ($3) is a
# trusted user, so `nix copy --to ssh://<user>@host` works without root.
NIX_CONFIG="$(printf 'sandbox = false\nbuild-users-group =\nsubstituters =\ntrusted-users = root %s\n' "$3")" \
  /usr/bin/nix-daemon >"$H/nix-daemon.log" 2>&1 &
# sshd, started again whenever it ends, except while the fleet holds it
# down ($H/sshd-down: a test cutting the host's connections). bash reaps
# every orphan it inherits while it waits.
while :; do
  while [ -e "$H/sshd-down" ]; do sleep 0.2; done
  /usr/sbin/sshd -D -e -f "$H/sshd_config" &
  sshd=$!
  while kill -0 "$sshd" 2>/dev/null; do wait "$sshd" || true; done
done
