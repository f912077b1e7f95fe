//! The tests' scratch directories (`common::TestDir`): removed when the test passes, kept
//! (for its logs and outputs) when it fails.

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

    // Made empty: a directory left by an earlier process with the same id does not leak in.
    std::fs::create_dir_all(&passed).unwrap();
    std::fs::write(passed.join("stale"), "old run").unwrap();
    let again = TestDir::new("scratch-pass");
    assert_eq!(again.path(), passed);
    assert_eq!(std::fs::read_dir(again.path()).unwrap().count(), 0);
}
