#!/bin/bash
# switch-to-configuration for the deploytui test fleet, a stand-in for NixOS's
# switch-to-configuration-ng (nixpkgs pkgs/by-name/sw/switch-to-configuration-ng,
# src/main.rs), which cannot run here. It prints what that program prints, in
# its order and on its stream (all of its own lines on stderr; the activation
# script's on stdout), exits with its codes, and changes real units through
# real systemctl where the real one uses D-Bus:
#   - only active units whose unit file is in /etc/systemd/system count;
#   - a unit gone from the new system is stopped;
#   - a changed unit is reloaded (X-ReloadIfChanged=true, or only ExecReload
#     changed), left alone (X-RestartIfChanged=false: "NOT restarting"),
#     restarted (X-StopIfChanged=false), or else stopped before the activation
#     and started after it;
#   - targets are started again (hidden from the lists), so new units start;
#   - lists are sorted without regard to case and joined with ", ";
#   - "switching to system configuration <out>" and how it finished go to
#     syslog as `nixos`, as the real one logs them.
# Like the real one it runs its children by absolute path and takes nothing
# from the caller's PATH: the tools it calls are its own (this root's).
set -u
tools=/usr/bin
# The system it belongs to, set when the system is built (the real one's
# wrapper sets OUT and TOPLEVEL).
new=@out@
systemctl=$tools/systemctl

usage() {
  $tools/cat >&2 <<EOF
Usage: switch-to-configuration [check|switch|boot|test|dry-activate]
check:        run pre-switch checks and exit
switch:       make the configuration the boot default and activate now
boot:         make the configuration the boot default
test:         activate the configuration, but don't make it the boot default
dry-activate: show what would be done if this configuration were activated

EOF
  exit 1
}
action=${1:-}
case "$action" in switch | boot | test | dry-activate | check) ;; *) usage ;; esac
if [ "$($tools/id -u)" -ne 0 ]; then
  echo "Error: switch-to-configuration must be run as the root user" >&2
  exit 1
fi
if [ ! -f /etc/NIXOS ]; then
  echo "This is not a NixOS installation!" >&2
  exit 2
fi
$tools/mkdir -p -m 0755 /run/nixos
exec 9>>/run/nixos/switch-to-configuration.lock
if ! $tools/flock -n 9; then
  echo "Could not acquire lock" >&2
  exit 11 # die(): errno EAGAIN
fi

# Pre-switch checks: NixOS's own switch-inhibitor check, and the system's.
if [ "${NIXOS_NO_CHECK:-}" != 1 ]; then
  if ! "$new/bin/pre-switch-checks" "$new" "$action"; then
    echo "Pre-switch checks failed" >&2
    exit 1
  fi
fi
[ "$action" = check ] && exit 0
if [ "$action" = switch ] || [ "$action" = boot ]; then
  if ! "$new/bin/install-bootloader" "$new"; then
    echo "Failed to install bootloader" >&2
    exit 1
  fi
fi
[ "$action" = boot ] && exit 0

old_iface=$($tools/cat /run/current-system/init-interface-version 2>/dev/null)
new_iface=$($tools/cat "$new/init-interface-version")
if [ "$old_iface" != "$new_iface" ]; then
  $tools/cat >&2 <<'EOF'
Warning: the new NixOS configuration has an ‘init’ that is
incompatible with the current configuration.  The new configuration
won't take effect until you reboot the system.

EOF
  exit 100
fi
# A test's hook: the host's switch-to-configuration panics, as the Rust one
# does when its stderr is gone (nixpkgs#462179).
if [ -e "$new/stc-panics" ]; then
  printf "\nthread 'main' panicked at src/main.rs:2150:9:\nfailed printing to stderr: Broken pipe (os error 32)\nnote: run with \`RUST_BACKTRACE=1\` environment variable to display a backtrace\n" >&2
  exit 101
fi

# Everything from here on goes through systemd's D-Bus API, as in the real one.
if [ ! -S /run/dbus/system_bus_socket ]; then
  printf 'Error: Failed to open dbus connection\n\nCaused by:\n    D-Bus error: Failed to connect to socket /run/dbus/system_bus_socket: No such file or directory (org.freedesktop.DBus.Error.FileNotFound)\n' >&2
  exit 1
fi

key() { $tools/sed -n "s/^$2=//p" "$1" | $tools/tail -n 1; }
is_true() { case "$1" in 1 | yes | true | on) return 0 ;; *) return 1 ;; esac; }
# Lists as the real one prints them: case-insensitive order, ", " between.
list() { printf '%s\n' "$@" | $tools/sort -f | $tools/paste -sd, | $tools/sed 's/,/, /g'; }
say() { # say PREFIX UNIT...
  local prefix=$1
  shift
  [ $# -gt 0 ] && echo "$prefix $(list "$@")" >&2
  return 0
}
active_units() {
  $systemctl list-units --all --plain --no-legend --state=active,activating,reloading 2>/dev/null |
    $tools/awk '{print $1}' | $tools/sort
}

to_stop=() to_skip=() to_restart=() to_reload=() to_start=() targets=()
for unit in $(active_units); do
  file=$($systemctl show -P FragmentPath "$unit" 2>/dev/null)
  case "$file" in /etc/systemd/system/*) ;; *) continue ;; esac
  newfile=$new/etc/systemd/system/$unit
  if [ ! -e "$newfile" ]; then
    to_stop+=("$unit")
    continue
  fi
  case "$unit" in
    *.target) targets+=("$unit") ;;
    *.service)
      $tools/cmp -s "$file" "$newfile" && continue
      if $tools/cmp -s <($tools/grep -v '^ExecReload=' "$file") <($tools/grep -v '^ExecReload=' "$newfile"); then
        to_reload+=("$unit")
      elif is_true "$(key "$newfile" X-ReloadIfChanged)"; then
        to_reload+=("$unit")
      elif [ "$(key "$newfile" X-RestartIfChanged)" = false ]; then
        to_skip+=("$unit")
      elif [ "$(key "$newfile" X-StopIfChanged)" = false ]; then
        to_restart+=("$unit")
      else
        to_stop+=("$unit")
        to_start+=("$unit")
      fi
      ;;
  esac
done

if [ "$action" = dry-activate ]; then
  say "would stop the following units:" "${to_stop[@]}"
  say "would NOT stop the following changed units:" "${to_skip[@]}"
  echo "would activate the configuration..." >&2
  [ -x "$new/dry-activate" ] && "$new/dry-activate" "$new"
  say "would reload the following units:" "${to_reload[@]}"
  say "would restart the following units:" "${to_restart[@]}"
  say "would start the following units:" "${to_start[@]}"
  exit 0
fi

# The real one logs to syslog as `nixos` (LOG_USER): the journal keeps
# which system was switched to when, for any tool that switched it.
$tools/logger -t nixos -p user.info "switching to system configuration $new"

code=0
before=$(active_units)
say "stopping the following units:" "${to_stop[@]}"
[ ${#to_stop[@]} -gt 0 ] && $systemctl stop -- "${to_stop[@]}"
say "NOT restarting the following changed units:" "${to_skip[@]}"
echo "activating the configuration..." >&2
if ! "$new/activate" "$new"; then
  echo "Failed to run activate script" >&2
  code=2
fi
$systemctl reset-failed
$systemctl daemon-reload
echo "restarting sysinit-reactivation.target" >&2
$systemctl restart sysinit-reactivation.target 2>/dev/null ||
  { echo "Failed to restart sysinit-reactivation.target: unit not found" >&2; code=4; }
say "reloading the following units:" "${to_reload[@]}"
for unit in "${to_reload[@]}"; do
  $systemctl reload "$unit" 2>/dev/null || { echo "Failed to reload $unit" >&2; code=4; }
done
say "restarting the following units:" "${to_restart[@]}"
for unit in "${to_restart[@]}"; do
  $systemctl restart "$unit" 2>/dev/null || { echo "Failed to restart $unit" >&2; code=4; }
done
say "starting the following units:" "${to_start[@]}"
for unit in "${to_start[@]}" "${targets[@]}" multi-user.target; do
  $systemctl start "$unit" 2>/dev/null || { echo "Failed to start $unit" >&2; code=4; }
done

# What came up that was not running before, and what failed.
new_units=()
for unit in $(active_units); do
  case "$unit" in *.scope) continue ;; esac
  printf '%s\n' "$before" | $tools/grep -qxF -e "$unit" || new_units+=("$unit")
done
say "the following new units were started:" "${new_units[@]}"
failed=($($systemctl list-units --all --plain --no-legend --state=failed 2>/dev/null | $tools/awk '{print $1}'))
if [ ${#failed[@]} -gt 0 ]; then
  echo "warning: the following units failed: $(list "${failed[@]}")" >&2
  $systemctl status --no-pager --full "${failed[@]}"
  code=4
fi
if [ $code -eq 0 ]; then
  $tools/logger -t nixos -p user.info "finished switching to system configuration $new"
else
  $tools/logger -t nixos -p user.err "switching to system configuration $new failed (status $code)"
fi
exit $code
