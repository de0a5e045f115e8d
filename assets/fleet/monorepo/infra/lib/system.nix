# A NixOS-shaped system without nixpkgs: the toplevel has
# bin/switch-to-configuration (with the pre-switch checks and bootloader it
# calls), activate, init-interface-version, nixos-version, and
# etc/systemd/system units.
{ host, monorepo, system ? "x86_64-linux" }:
let
  webapp = import ../pkgs/webapp.nix { src = monorepo; inherit system; };
  rev = monorepo.rev or "dirty";
  # As NixOS: a system built from a dirty tree names no configuration revision.
  revJson = if monorepo ? rev then ",\"configurationRevision\":\"${monorepo.rev}\"" else "";
  sh = name: script: derivation {
    inherit name system;
    builder = "/bin/sh";
    args = [ "-c" "export PATH=/usr/bin:/bin\n${script}" ];
  };
  nginxConf = sh "nginx.conf" ''
    cat > $out <<EOF
    daemon off;
    pid /run/nginx/nginx.pid;
    error_log stderr info;
    events { worker_connections 64; }
    http {
      access_log /run/nginx/access.log;
      client_body_temp_path /run/nginx/body;
      proxy_temp_path /run/nginx/proxy;
      fastcgi_temp_path /run/nginx/fastcgi;
      uwsgi_temp_path /run/nginx/uwsgi;
      scgi_temp_path /run/nginx/scgi;
      server {
        listen 127.0.0.1:${toString host.nginxPort};
        root ${webapp}/share/www;
      }
    }
    EOF
  '';
  webappService = sh "webapp-service" ''
    mkdir -p $out/bin
    cat > $out/bin/webapp <<EOF
    #!/bin/sh
    echo "webapp \$(cat ${webapp}/share/www/version.txt) starting"
    # What an operator drops in /run/webapp/say goes to the journal as the
    # app's own lines (checked every second; no process of its own).
    n=0
    while :; do
      if [ -s /run/webapp/say ]; then mv /run/webapp/say /run/webapp/said; cat /run/webapp/said; fi
      [ \$((n % 2)) = 0 ] && echo "webapp \$(cat ${webapp}/share/www/version.txt) alive"
      n=\$((n + 1))
      sleep 1
    done
    EOF
    chmod +x $out/bin/webapp
    # Its preStart (ExecStartPre): the app checks it can reach its database.
    cat > $out/bin/webapp-check <<EOF
    #!/bin/sh
    echo "webapp: database reachable"
    EOF
    chmod +x $out/bin/webapp-check
  '';
  nginxRestart = if host.nginxRestartIfChanged or false then "" else "X-RestartIfChanged=false\n";
  # What a reboot would change: a new kernel or initrd (an app change is not one).
  kernelVersion = host.kernel or "6.6.0";
  kernel = sh "linux-${kernelVersion}" ''echo "fleet kernel ${kernelVersion}" > $out'';
  initrd = sh "initrd-linux-${kernelVersion}" ''echo "fleet initrd ${kernelVersion}" > $out'';
  # More units a host's host.nix names (`units = { "x.service" = "<unit file>"; }`),
  # each wanted by multi-user.target.
  extraUnits = host.units or { };
  # What a test can make go wrong, each as a real host would: a failing
  # pre-switch check, bootloader or activation snippet, a new init, a panic.
  fail = what: (host.fail or { }).${what} or false;
  # NixOS's pre-switch checks (system.preSwitchChecksScript): its own
  # switch-inhibitor check, each fragment's output on stderr.
  preSwitchChecks = sh "pre-switch-checks" ''
    mkdir -p $out/bin
    cat > $out/bin/pre-switch-checks <<'EOF'
    #!/bin/bash
    incoming=$1 action=$2
    if ! (
      if [ "$action" = boot ] || [ "$action" = dry-activate ]; then
        echo "Not checking switch inhibitors (action = $action)"
      else
        echo -n "Checking switch inhibitors..."
        echo " done"
      fi
    ) >&2; then echo "Pre-switch check 'switchInhibitors' failed" >&2; exit 1; fi
    EOF
    ${if fail "preSwitchCheck" then ''
    cat >> $out/bin/pre-switch-checks <<'EOF'
    if ! ( echo "this host refuses the new system"; false ) >&2; then echo "Pre-switch check 'fleetCheck' failed" >&2; exit 1; fi
    EOF
    '' else ""}
    chmod +x $out/bin/pre-switch-checks
  '';
  # GRUB's installer, as install-grub.pl speaks.
  installBootloader = sh "install-bootloader" ''
    mkdir -p $out/bin
    cat > $out/bin/install-bootloader <<'EOF'
    #!/bin/bash
    echo "updating GRUB 2 menu..." >&2
    ${if fail "bootloader" then ''echo "cannot copy kernel to /boot: No space left on device" >&2; exit 1'' else ""}
    EOF
    chmod +x $out/bin/install-bootloader
  '';
  # The activation script ($out/activate): sets its own PATH, as NixOS's
  # does, lays the system's units into /etc/systemd/system (NixOS links
  # /etc/static there) and makes this the current system.
  activate = sh "activate" ''
    cat > $out <<'EOF'
    #!/bin/bash
    export PATH=/usr/bin:/bin
    systemConfig=$1
    echo "setting up /etc..."
    # A test makes activation slow here, to cut the connection in the middle.
    [ -r /run/fleet-slow-activation ] && sleep "$(cat /run/fleet-slow-activation)"
    etc=/etc/systemd/system
    for f in $etc/* $etc/multi-user.target.wants/*; do
      [ -L "$f" ] && case $(readlink "$f") in /nix/store/*) rm -f "$f" ;; esac
    done
    mkdir -p $etc/multi-user.target.wants
    for f in "$systemConfig"/etc/systemd/system/*; do
      [ -f "$f" ] && ln -sfn "$(readlink -f "$f")" "$etc/$(basename "$f")"
    done
    for f in "$systemConfig"/etc/systemd/system/multi-user.target.wants/*; do
      ln -sfn "$(readlink -f "$f")" "$etc/multi-user.target.wants/$(basename "$f")"
    done
    ln -sfn "$(readlink -f "$systemConfig")" /run/.current-system.tmp && mv -T /run/.current-system.tmp /run/current-system
    [ -e /run/booted-system ] || ln -sfn "$(readlink -f "$systemConfig")" /run/booted-system
    ${builtins.concatStringsSep "\n" (map (line: "echo '${line}'") (host.activationSays or [ ]))}
    ${if fail "activation" then ''echo "Activation script snippet 'fleetSnippet' failed (1)"; exit 1'' else ""}
    EOF
    chmod +x $out
  '';
in
sh "nixos-system-${host.name}-${webapp.version}" ''
  mkdir -p $out/bin $out/sw/bin $out/etc/systemd/system/multi-user.target.wants
  ln -s ${kernel} $out/kernel
  ln -s ${initrd} $out/initrd
  sed "s|@out@|$out|" ${./switch-to-configuration.sh} > $out/bin/switch-to-configuration
  chmod +x $out/bin/switch-to-configuration
  ln -s ${preSwitchChecks}/bin/pre-switch-checks $out/bin/pre-switch-checks
  ln -s ${installBootloader}/bin/install-bootloader $out/bin/install-bootloader
  ln -s ${activate} $out/activate
  echo "${host.initInterface or "systemd 2"}" > $out/init-interface-version
  ${if fail "stcPanic" then "touch $out/stc-panics" else ""}
  echo "24.11.deploytui-fleet" > $out/nixos-version
  echo "${rev}" > $out/configuration-revision
  cat > $out/sw/bin/nixos-version <<EOF
  #!/bin/sh
  case "\$1" in
    --json) printf '{"nixosVersion":"24.11.deploytui-fleet"${revJson}}\n' ;;
    --configuration-revision) echo "${rev}" ;;
    *) echo "24.11.deploytui-fleet" ;;
  esac
  EOF
  chmod +x $out/sw/bin/nixos-version
  # As NixOS writes units: a PATH of the service's own (NixOS puts coreutils,
  # findutils, grep, sed and systemd there), since systemd's default has none.
  printf '[Unit]\nDescription=Nginx Web Server\n\n[Service]\nEnvironment="PATH=/usr/bin:/bin"\nExecStart=/usr/sbin/nginx -c ${nginxConf}\nExecReload=/bin/kill -HUP $MAINPID\nRuntimeDirectory=nginx\n${nginxRestart}' \
    > $out/etc/systemd/system/nginx.service
  printf '[Unit]\nDescription=The web app\n\n[Service]\nEnvironment="PATH=/usr/bin:/bin"\nExecStartPre=${webappService}/bin/webapp-check\nExecStart=${webappService}/bin/webapp\nRuntimeDirectory=webapp\n' \
    > $out/etc/systemd/system/webapp.service
  printf '[Unit]\nDescription=Reactivate sysinit units\n' > $out/etc/systemd/system/sysinit-reactivation.target
  ln -s ../nginx.service $out/etc/systemd/system/multi-user.target.wants/nginx.service
  ln -s ../webapp.service $out/etc/systemd/system/multi-user.target.wants/webapp.service
  ln -s ${webapp} $out/webapp
  ${builtins.concatStringsSep "\n" (map (name: ''
    cp ${builtins.toFile name extraUnits.${name}} $out/etc/systemd/system/${name}
    ln -s ../${name} $out/etc/systemd/system/multi-user.target.wants/${name}
  '') (builtins.attrNames extraUnits))}
''
