//! The README's table of checks is the runner's own list: a check added, renamed or moved to
//! another level changes `ssekit check --list-checks`, and this test makes the README follow.

#[test]
fn the_readme_lists_every_check_with_its_level_and_source() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("README.md");
    let start = readme
        .find("<!-- checks-table -->\n")
        .expect("the README marks its checks table")
        + "<!-- checks-table -->\n".len();
    let end = readme[start..]
        .find("<!-- /checks-table -->")
        .expect("the table's end marker")
        + start;
    assert_eq!(
        &readme[start..end],
        ssekit_conformance::check_command::checks_table(),
        "update the README with `ssekit check --list-checks`"
    );
}
