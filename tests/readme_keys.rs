//! The README's key reference is the key table itself: the same rows the
//! footer and the `?` help are drawn from.

use deploytui::keymap::Keymap;

#[test]
fn the_readme_key_reference_is_the_key_table() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let table = Keymap::default().markdown();
    assert!(
        readme.contains(&table),
        "README.md's key reference differs from the key table; put this under `## Keys`:\n\n{table}"
    );
}

#[test]
fn the_example_config_names_every_action() {
    let example =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config.example.toml"))
            .expect("config.example.toml");
    let listed: String = example
        .lines()
        .filter(|l| l.starts_with("#   "))
        .collect::<Vec<_>>()
        .join(" ");
    for name in deploytui::keymap::action_names() {
        assert!(
            listed
                .split(|c: char| c == ',' || c.is_whitespace())
                .any(|w| w == name),
            "config.example.toml does not list the action `{name}`"
        );
    }
}
