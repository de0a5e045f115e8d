# A NixOS-shaped system without nixpkgs: the toplevel has
# bin/switch-to-configuration, nixos-version, and etc/systemd/system units.
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
    # What an operator drops in /run/webapp/say goes to the journal as the app's own lines.
    : > /run/webapp/say
    tail -n +1 -F /run/webapp/say 2>/dev/null &
    while :; do echo "webapp \$(cat ${webapp}/share/www/version.txt) alive"; sleep 2; done
    EOF
    chmod +x $out/bin/webapp
  '';
  nginxRestart = if host.nginxRestartIfChanged or false then "" else "X-RestartIfChanged=false\n";
  # What a reboot would change: a new kernel or initrd (an app change is not one).
  kernelVersion = host.kernel or "6.6.0";
  kernel = sh "linux-${kernelVersion}" ''echo "fleet kernel ${kernelVersion}" > $out'';
  initrd = sh "initrd-linux-${kernelVersion}" ''echo "fleet initrd ${kernelVersion}" > $out'';
in
sh "nixos-system-${host.name}-${webapp.version}" ''
  mkdir -p $out/bin $out/sw/bin $out/etc/systemd/system
  ln -s ${kernel} $out/kernel
  ln -s ${initrd} $out/initrd
  cp ${./switch-to-configuration.sh} $out/bin/switch-to-configuration
  chmod +x $out/bin/switch-to-configuration
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
  printf '[Unit]\nDescription=The web app\n\n[Service]\nEnvironment="PATH=/usr/bin:/bin"\nExecStart=${webappService}/bin/webapp\nRuntimeDirectory=webapp\n' \
    > $out/etc/systemd/system/webapp.service
  ln -s ${webapp} $out/webapp
''
