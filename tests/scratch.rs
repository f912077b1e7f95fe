//! The tests' scratch directories (`common::TestDir`): new and empty, removed when the test
//! passes, kept (for its logs and outputs) when it fails.

mod common;

use common::TestDir;
use std::path::PathBuf;

#[test]
fn a_passing_tests_directory_goes_a_failing_ones_stays() {
    let passed = {
        let d = TestDir::new("scratch-pass");
        std::fs::write(d.join("log"), "ok").unwrap();
        d.path().to_path_buf()
    };
    assert!(!passed.exists(), "{} left behind", passed.display());

    let failed = std::thread::spawn(|| {
        let d = TestDir::new("scratch-fail");
        std::fs::write(d.join("log"), "what went wrong").unwrap();
        std::panic::panic_any(d.path().to_path_buf());
    })
    .join()
    .expect_err("the thread panics")
    .downcast::<PathBuf>()
    .expect("the directory's path");
    assert_eq!(
        std::fs::read_to_string(failed.join("log")).unwrap(),
        "what went wrong"
    );
    std::fs::remove_dir_all(&*failed).unwrap();

    // Always a new, empty directory: one left by an earlier run of the same test does not
    // leak in.
    let stale = TestDir::new("scratch-pass");
    std::fs::write(stale.join("stale"), "old run").unwrap();
    let again = TestDir::new("scratch-pass");
    assert_ne!(again.path(), stale.path());
    assert_eq!(std::fs::read_dir(again.path()).unwrap().count(), 0);
}
