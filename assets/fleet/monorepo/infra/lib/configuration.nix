# A NixOS configuration as `deploytui init` reads one, without nixpkgs:
# what lib.nixosSystem returns (nixos/lib/eval-config.nix: `config`,
# `options`, `pkgs`) holding the values a real configuration of this host
# would. Option definitions carry the file that made them, as nixpkgs'
# lib/modules.nix gives them (`definitionsWithLocations`: `file`, `value`):
# nginx's unit comes from NixOS's own module, webapp's from this repository.
{ name, host, monorepo }:
let
  # Where nixpkgs' source would be: NixOS's modules live below it.
  nixpkgs = "/nix/store/00000000000000000000000000000000-nixpkgs-source";
in
{
  pkgs.path = nixpkgs;
  config = {
    system.build.toplevel = import ./system.nix { inherit host monorepo; };
    networking.hostName = name;
    services.nginx.enable = true;
    systemd.services = {
      nginx.enable = true;
      webapp.enable = true;
    };
  };
  options.systemd.services.definitionsWithLocations = [
    {
      file = "${nixpkgs}/nixos/modules/services/web-servers/nginx/default.nix";
      value.nginx = { };
    }
    {
      file = toString ./system.nix;
      value.webapp = { };
    }
  ];
}
