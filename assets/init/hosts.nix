# What `deploytui init` asks of one flake, in one evaluation: the name of
# every nixosConfiguration, and for each wanted one (all, or the one named
# in DEPLOYTUI_ONLY) its host name, a target that colmena or deploy-rs
# conventions give, and the services worth watching: the web servers it
# enables and the systemd services its own modules define (those not
# defined by nixpkgs' modules: every NixOS unit is not worth a row).
# The flake reference comes in DEPLOYTUI_FLAKE (--impure): no quoting.
let
  ref = builtins.getEnv "DEPLOYTUI_FLAKE";
  only = builtins.getEnv "DEPLOYTUI_ONLY";
  flake = builtins.getFlake ref;
  hasPrefix = p: s: builtins.substring 0 (builtins.stringLength p) s == p;
  configs = flake.nixosConfigurations or { };
  wanted = if only == "" then configs else { ${only} = configs.${only}; };
  describe = name: c:
    let
      cfg = c.config;
      nixpkgs = if c ? pkgs && c.pkgs ? path then toString c.pkgs.path else null;
      defs = c.options.systemd.services.definitionsWithLocations or [ ];
      own = builtins.concatLists (map
        (d:
          if nixpkgs != null && hasPrefix nixpkgs (toString d.file) then [ ]
          else if builtins.isAttrs d.value then builtins.attrNames d.value
          else [ ])
        defs);
      units = cfg.systemd.services or { };
      enabled = u: units ? ${u} && (units.${u}.enable or true);
      web = builtins.filter (s: cfg.services.${s}.enable or false) [ "nginx" "caddy" "httpd" ];
    in
    {
      hostName = cfg.networking.hostName or null;
      targetHost = cfg.deployment.targetHost or null;
      services = web ++ builtins.filter (u: enabled u && !(builtins.elem u web)) own;
    };
in
{
  names = builtins.attrNames configs;
  hosts = builtins.mapAttrs describe wanted;
  deployNodes = builtins.mapAttrs (n: node: node.hostname or null) (flake.deploy.nodes or { });
}
