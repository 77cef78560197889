//! `--only` with the browser checks: a B check named without `--browser` is refused before
//! anything runs, with what to add.

mod common;

use ssekit_check::check_command::{check_target, CheckArgs};
use ssekit_check::target::{embedded_config, Target};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_check_without_browser_is_refused() {
    let target = Target::embedded(embedded_config())
        .await
        .expect("embedded server starts");
    let args = CheckArgs {
        only: vec!["H01".to_owned(), "B02".to_owned()],
        ..common::args(&[])
    };
    match check_target(target, &args).await {
        Ok(_) => panic!("ran B02 without a browser"),
        Err(e) => assert!(e.to_string().contains("add --browser"), "{e}"),
    }
}
