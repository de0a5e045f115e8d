# The web app, built the way nixpkgs' buildNpmPackage does it: its
# dependencies are a fixed-output derivation pinned by npmDepsHash, and the
# build refuses dependencies made from another lock file.
{ src, system }:
let
  pkg = builtins.fromJSON (builtins.readFile "${src}/app/package.json");
  npmDepsHash = "@NPM_DEPS_HASH@";
  npmDeps = derivation {
    name = "${pkg.name}-${pkg.version}-npm-deps";
    inherit system;
    builder = "/bin/sh";
    args = [ "-c" ''
      export PATH=/usr/bin:/bin
      mkdir -p $out/modules
      cp ${src}/app/deps.lock $out/deps.lock
      while read -r dep; do
        [ -n "$dep" ] && echo "$dep" > "$out/modules/$(echo "$dep" | tr '/@' '__')"
      done < ${src}/app/deps.lock
    '' ];
    outputHashMode = "recursive";
    outputHashAlgo = "sha256";
    outputHash = npmDepsHash;
  };
in
derivation {
  name = "${pkg.name}-${pkg.version}";
  inherit system;
  builder = "/bin/sh";
  version = pkg.version;
  rev = src.rev or "dirty";
  args = [ "-c" ''
    export PATH=/usr/bin:/bin
    if ! cmp -s ${npmDeps}/deps.lock ${src}/app/deps.lock; then
      echo "ERROR: npmDepsHash is out of date" >&2
      echo "The deps.lock in src is not the same as the one in ${npmDeps}." >&2
      echo "To fix the issue: set npmDepsHash to an empty string, build, and use the hash nix reports." >&2
      exit 1
    fi
    mkdir -p $out/share/www $out/lib
    message=$(cat ${src}/app/message.txt)
    sed -e "s|@VERSION@|$version|" -e "s|@REV@|$rev|" -e "s|@MESSAGE@|$message|" \
      ${src}/app/index.html > $out/share/www/index.html
    echo "$version" > $out/share/www/version.txt
    cp -r ${npmDeps}/modules $out/lib/node_modules
  '' ];
}
