#!/bin/bash
# switch-to-configuration for the deploytui test fleet. Like NixOS's: it
# compares the unit files of the running system with this one's, stops
# removed units, restarts (or reloads) changed ones, starts new ones, leaves
# unchanged ones running, and honours X-RestartIfChanged=false.
set -u
export PATH=/usr/bin:/bin:/usr/sbin:/sbin
action=${1:-}
case "$action" in
  switch|boot|test|dry-activate) ;;
  *) echo "Usage: $0 [switch|boot|test|dry-activate]" >&2; exit 1 ;;
esac
new=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
old=$(readlink /run/current-system 2>/dev/null || true)
if [ "$(id -u)" -ne 0 ]; then
  echo "switch-to-configuration: must be run as root" >&2
  exit 1
fi

units_of() { [ -n "$1" ] && [ -d "$1/etc/systemd/system" ] && ls "$1/etc/systemd/system"; }
unit_opt() { grep -q "^$2=$3" "$1" 2>/dev/null; }

to_stop=() to_restart=() to_reload=() to_start=() not_restarted=()
for unit in $(units_of "$old"); do
  [ -e "$new/etc/systemd/system/$unit" ] || to_stop+=("$unit")
done
for unit in $(units_of "$new"); do
  newfile="$new/etc/systemd/system/$unit"
  oldfile="$old/etc/systemd/system/$unit"
  if [ -z "$old" ] || [ ! -e "$oldfile" ]; then
    to_start+=("$unit")
  elif ! cmp -s "$oldfile" "$newfile"; then
    if unit_opt "$newfile" X-RestartIfChanged false; then
      not_restarted+=("$unit")
    elif unit_opt "$newfile" X-ReloadIfChanged true; then
      to_reload+=("$unit")
    else
      to_restart+=("$unit")
    fi
  elif ! systemctl is-active --quiet "$unit"; then
    # NixOS starts wanted units that are not running.
    to_start+=("$unit")
  fi
done

list() { local IFS=,; echo "$*" | sed 's/,/, /g'; }
say() { [ $# -gt 1 ] && [ -n "$2" ] && echo "$1 $2"; return 0; }

if [ "$action" = dry-activate ]; then
  say "would stop the following units:" "$(list "${to_stop[@]}")"
  say "would NOT restart the following changed units:" "$(list "${not_restarted[@]}")"
  echo "would activate the configuration..."
  say "would restart the following units:" "$(list "${to_restart[@]}")"
  say "would reload the following units:" "$(list "${to_reload[@]}")"
  say "would start the following units:" "$(list "${to_start[@]}")"
  exit 0
fi
if [ "$action" = boot ]; then
  echo "updating GRUB 2 menu..."
  exit 0
fi

say "stopping the following units:" "$(list "${to_stop[@]}")"
for unit in "${to_stop[@]}"; do systemctl stop "$unit"; done
say "NOT restarting the following changed units:" "$(list "${not_restarted[@]}")"
echo "activating the configuration..."
echo "setting up /etc..."
# A test makes activation slow here, to cut the connection in the middle.
[ -r /run/fleet-slow-activation ] && sleep "$(cat /run/fleet-slow-activation)"
ln -sfn "$new" /run/.current-system.tmp && mv -T /run/.current-system.tmp /run/current-system
for unit in "${to_stop[@]}"; do rm -f "/etc/systemd/system/$unit"; done
for unit in $(units_of "$new"); do ln -sfn "$new/etc/systemd/system/$unit" "/etc/systemd/system/$unit"; done
systemctl daemon-reload
[ -e /run/booted-system ] || ln -sfn "$new" /run/booted-system
say "restarting the following units:" "$(list "${to_restart[@]}")"
for unit in "${to_restart[@]}"; do systemctl restart "$unit"; done
say "reloading the following units:" "$(list "${to_reload[@]}")"
for unit in "${to_reload[@]}"; do systemctl reload "$unit"; done
say "starting the following units:" "$(list "${to_start[@]}")"
for unit in "${to_start[@]}"; do systemctl start "$unit"; done

sleep 0.3
failed=()
for unit in $(units_of "$new"); do
  systemctl is-active --quiet "$unit" || failed+=("$unit")
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "warning: the following units failed: $(list "${failed[@]}")"
  for unit in "${failed[@]}"; do
    echo
    systemctl status "$unit" 2>&1 | head -n 20
  done
  echo "warning: error(s) occurred while switching to the new configuration"
  exit 4
fi
exit 0
