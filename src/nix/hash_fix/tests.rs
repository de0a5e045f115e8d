//! Reading nix's mismatch, finding the stale hash in a real git repo, and
//! writing the fix only inside it.

use super::*;

const SPECIFIED: &str = "sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
const GOT: &str = "sha256-LXV/Bt1ZDZpoJR18KsaA8OgdcDnm8RNdby+8DHwf7Ts=";
const OLD_REAL: &str = "sha256-2G2Ig608Fd2Z/J16os4U6lXv4Fwf+jbm9KufWpkP7SI=";

/// What nix 2.8 said (tests/fixtures/internal-json/nix-2.8-hash-mismatch.ijson).
const NIX_SAID: &str = "\u{1b}[31;1merror:\u{1b}[0m hash mismatch in fixed-output derivation '\u{1b}[35;1m/nix/store/6cjlvp4kx47scmri732agfnbds0i0ny8-deps.drv\u{1b}[0m':\n         specified: \u{1b}[35;1msha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\u{1b}[0m\n            got:    \u{1b}[35;1msha256-LXV/Bt1ZDZpoJR18KsaA8OgdcDnm8RNdby+8DHwf7Ts=\u{1b}[0m\u{1b}[0m";

#[test]
fn nix_mismatch_is_read_with_its_colours_and_line_breaks() {
    let m = parse_mismatch(NIX_SAID).unwrap();
    assert_eq!(
        m.drv,
        "/nix/store/6cjlvp4kx47scmri732agfnbds0i0ny8-deps.drv"
    );
    assert_eq!((m.specified.as_str(), m.got.as_str()), (SPECIFIED, GOT));
    assert_eq!(parse_mismatch("error: builder failed"), None);
    assert_eq!(
        out_of_date("webapp-1.0.0> ERROR: npmDepsHash is out of date").as_deref(),
        Some("npmDepsHash")
    );
    assert_eq!(out_of_date("all is well"), None);
}

#[test]
fn base32_is_nixs_own() {
    // `nix hash to-base32` and `to-base16` of GOT, on this machine's nix 2.8.
    let bytes = sri_bytes(GOT).unwrap();
    assert_eq!(
        nix_base32(&bytes),
        "0fzd3xy0rg1gdxfi7wg675q1vs7hh332lz0x4ml9l3arvl37yx9d"
    );
    assert_eq!(
        hex(&bytes),
        "2d757f06dd590d9a68251d7c2ac680f0e81d7039e6f1135d6f2fbc0c7c1fed3b"
    );
}

fn repo(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let git = |args: &[&str]| {
        let out = std::process::Command::new("git")
            .arg("-C")
            .arg(dir.path())
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {out:?}");
    };
    git(&["init", "-q"]);
    for (path, text) in files {
        let p = dir.path().join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    git(&["add", "-A"]);
    dir
}

fn mismatch(specified: &str) -> Mismatch {
    Mismatch {
        drv: "/nix/store/x-deps.drv".into(),
        specified: specified.into(),
        got: GOT.into(),
    }
}

#[test]
fn the_stale_hash_is_found_where_it_is_and_fixed_in_the_same_form() {
    let old32 = nix_base32(&sri_bytes(OLD_REAL).unwrap());
    let r = repo(&[
        (
            "infra/pkgs/webapp.nix",
            &format!("{{\n  npmDepsHash = \"{OLD_REAL}\";\n}}\n"),
        ),
        ("infra/pkgs/old.nix", &format!("  sha256 = \"{old32}\";\n")),
        ("app/index.html", "<p>nothing here</p>\n"),
    ]);
    let sites = find_sites(r.path(), &mismatch(OLD_REAL)).unwrap().sites;
    assert_eq!(sites.len(), 2, "{sites:#?}");
    let webapp = sites
        .iter()
        .find(|s| s.file.ends_with("webapp.nix"))
        .unwrap();
    assert_eq!(webapp.place(), "infra/pkgs/webapp.nix:2");
    assert_eq!(webapp.new, format!("  npmDepsHash = \"{GOT}\";"));
    let old = sites.iter().find(|s| s.file.ends_with("old.nix")).unwrap();
    assert_eq!(
        old.new, "  sha256 = \"0fzd3xy0rg1gdxfi7wg675q1vs7hh332lz0x4ml9l3arvl37yx9d\";",
        "base-32 stays base-32"
    );
    write_site(r.path(), webapp).unwrap();
    assert_eq!(
        std::fs::read_to_string(r.path().join("infra/pkgs/webapp.nix")).unwrap(),
        format!("{{\n  npmDepsHash = \"{GOT}\";\n}}\n"),
        "only that line changed"
    );
    // The same fix again: the line is not what the diff showed any more.
    let e = write_site(r.path(), webapp).unwrap_err();
    assert!(e.contains("changed since it was read"), "{e}");
}

#[test]
fn an_empty_or_fake_hash_is_where_the_new_one_goes() {
    let r = repo(&[
        ("a.nix", "  npmDepsHash = \"\";\n"),
        ("b.nix", "  cargoHash = lib.fakeHash;\n"),
        ("c.nix", "  name = \"\";\n"),
    ]);
    let sites = find_sites(r.path(), &mismatch(SPECIFIED)).unwrap().sites;
    let news: Vec<&str> = sites.iter().map(|s| s.new.as_str()).collect();
    assert_eq!(
        news,
        [
            format!("  npmDepsHash = \"{GOT}\";").as_str(),
            format!("  cargoHash = \"{GOT}\";").as_str()
        ]
    );
    let blank = attribute_sites(r.path(), "npmDepsHash").unwrap().sites;
    assert_eq!(blank.len(), 1);
}

#[test]
fn nothing_outside_the_repository_is_read_or_written() {
    let outside = tempfile::tempdir().unwrap();
    let secret = outside.path().join("elsewhere.nix");
    std::fs::write(&secret, format!("  hash = \"{OLD_REAL}\";\n")).unwrap();
    let r = repo(&[("in.nix", "x = 1;\n")]);
    std::os::unix::fs::symlink(&secret, r.path().join("link.nix")).unwrap();
    let sites = find_sites(r.path(), &mismatch(OLD_REAL)).unwrap().sites;
    assert!(sites.is_empty(), "a symlinked file is not read: {sites:?}");
    for rel in ["link.nix", "../elsewhere.nix", "/etc/passwd"] {
        let site = Site {
            file: rel.into(),
            line: 1,
            old: format!("  hash = \"{OLD_REAL}\";"),
            new: "x".into(),
        };
        let e = write_site(r.path(), &site).unwrap_err();
        assert!(e.contains("outside the repository"), "{rel}: {e}");
    }
    assert!(std::fs::read_to_string(&secret).unwrap().contains(OLD_REAL));
    // A symlink where the fix is written aside is unlinked, not followed.
    let r = repo(&[("fix.nix", &format!("  hash = \"{OLD_REAL}\";\n"))]);
    std::os::unix::fs::symlink(&secret, r.path().join("fix.deploytui-new")).unwrap();
    let sites = find_sites(r.path(), &mismatch(OLD_REAL)).unwrap().sites;
    write_site(r.path(), &sites[0]).unwrap();
    assert!(std::fs::read_to_string(&secret).unwrap().contains(OLD_REAL));
    assert!(std::fs::read_to_string(r.path().join("fix.nix"))
        .unwrap()
        .contains(GOT));
}

/// A decoy that mentions the hash (a note, in base-16) comes first by name;
/// the attribute's assignment is the one preselected all the same. Written
/// as root, the file keeps its owner and mode.
#[test]
fn the_assignment_comes_first_and_a_written_file_keeps_its_owner() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let hex: String = sri_bytes(OLD_REAL)
        .unwrap()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let r = repo(&[
        ("app/notes.txt", &format!("the old deps hash was {hex}\n")),
        (
            "infra/pkgs/webapp.nix",
            &format!("{{\n  npmDepsHash = \"{OLD_REAL}\";\n}}\n"),
        ),
    ]);
    let sites = find_sites(r.path(), &mismatch(OLD_REAL)).unwrap().sites;
    assert_eq!(sites.len(), 2, "{sites:#?}");
    assert_eq!(sites[0].place(), "infra/pkgs/webapp.nix:2", "{sites:#?}");
    let file = r.path().join("infra/pkgs/webapp.nix");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
    if rustix::process::geteuid().is_root() {
        std::os::unix::fs::chown(&file, Some(4242), Some(4242)).unwrap();
    }
    let before = std::fs::metadata(&file).unwrap();
    write_site(r.path(), &sites[0]).unwrap();
    let after = std::fs::metadata(&file).unwrap();
    assert_eq!(after.permissions().mode() & 0o777, 0o640);
    assert_eq!((after.uid(), after.gid()), (before.uid(), before.gid()));
}

/// A file too big to read is not searched, and the search says so (the
/// card names it), rather than passing over it in silence.
#[test]
fn files_over_a_mebibyte_are_named_as_not_searched() {
    let big = format!(
        "{}\n  npmDepsHash = \"{OLD_REAL}\";\n",
        "x".repeat(MAX_FILE as usize)
    );
    let r = repo(&[
        ("vendor/bundle.js", &big),
        ("vendor/other.bin", &big),
        (
            "infra/pkgs/webapp.nix",
            &format!("  npmDepsHash = \"{OLD_REAL}\";\n"),
        ),
    ]);
    let found = find_sites(r.path(), &mismatch(OLD_REAL)).unwrap();
    assert_eq!(found.sites.len(), 1, "{found:#?}");
    let mut too_big = found.too_big.clone();
    too_big.sort();
    assert_eq!(
        too_big,
        [
            PathBuf::from("vendor/bundle.js"),
            PathBuf::from("vendor/other.bin")
        ]
    );
    let mut cards = vec![crate::deploy::diagnosis::Diagnosis {
        kind: crate::deploy::diagnosis::Kind::HashMismatch,
        title: "wrong fixed-output hash".into(),
        evidence: Vec::new(),
        fix: None,
    }];
    crate::deploy::diagnosis::with_sites(&mut cards, r.path().into(), Ok(found));
    assert!(
        cards[0]
            .evidence
            .iter()
            .any(|e| e.starts_with("not searched, over 1 MiB: ")
                && e.ends_with(" and 1 more (2 files)")),
        "{:#?}",
        cards[0].evidence
    );
    assert!(cards[0].fix.is_some());
}
