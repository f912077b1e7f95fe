//! Helpers shared by the integration tests that run the appliance with its management API
//! (`mod common;` in each test crate; every crate uses a part of it).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use varouter::appliance::{Reload, RunError, RunOptions, Summary};

/// A cheap argon2id hash (64 KiB, 1 pass) so that debug builds verify tokens and passwords
/// quickly; the server takes the parameters from the PHC string.
pub fn cheap_hash(secret: &str) -> String {
    let a = Argon2::new(
        Algorithm::Argon2id,
        Version::V0x13,
        Params::new(64, 1, 1, None).unwrap(),
    );
    let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
    a.hash_password(secret.as_bytes(), &salt)
        .unwrap()
        .to_string()
}

/// An appliance running the profile at a path on its own thread (as `varouter run` does,
/// with the profile file as the running document for reloads and saves); stopped and
/// joined when dropped.
pub struct Running {
    stop: Arc<AtomicBool>,
    /// The run's thread (taken by tests that wait for the run to end themselves).
    pub join: Option<JoinHandle<Result<Summary, RunError>>>,
}

impl Running {
    /// Starts the profile at `path` and waits (at most `wait`) until its management API
    /// accepts connections; panics with the run's error if it stops before.
    pub fn start(path: &Path, opts: RunOptions, wait: Duration) -> Running {
        let cfg = varouter::load_config(path).expect("the test profile checks");
        let addr = cfg
            .management
            .as_ref()
            .expect("the test profile has a management section")
            .listen;
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let reload = Reload {
            path: path.to_path_buf(),
            requested: Arc::new(AtomicBool::new(false)),
        };
        let join = std::thread::spawn(move || {
            varouter::appliance::run_with_reload(&cfg, &opts, s, Some(reload))
        });
        let t0 = Instant::now();
        while std::net::TcpStream::connect(addr).is_err() {
            assert!(t0.elapsed() < wait, "the API did not come up on {addr}");
            if join.is_finished() {
                let r = join.join().unwrap();
                panic!("the appliance stopped at start: {:?}", r.err());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Running {
            stop,
            join: Some(join),
        }
    }

    /// [`Running::start`] with no time limit and no end when the inputs are done.
    pub fn until_stopped(path: &Path, wait: Duration) -> Running {
        let opts = RunOptions {
            duration: None,
            until_inputs_finished: false,
            stats_every: None,
        };
        Running::start(path, opts, wait)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(j) = self.join.take() {
            let _ = j.join();
        }
    }
}

/// A blocking HTTP agent that returns 4xx/5xx answers instead of errors.
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(20)))
        .build()
        .into()
}

/// A test's scratch directory, a new `$TMPDIR/varouter-<name>-XXXXXX` (`tempfile`'s
/// `TempDir`, which removes it when dropped), kept when the test is failing (panicking)
/// then, with its path on stderr, for the profile, logs and outputs in it.
pub struct TestDir(tempfile::TempDir);

impl TestDir {
    /// Makes a new, empty `$TMPDIR/varouter-<name>-XXXXXX`.
    pub fn new(name: &str) -> TestDir {
        TestDir(
            tempfile::Builder::new()
                .prefix(&format!("varouter-{name}-"))
                .tempdir()
                .unwrap(),
        )
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        self.0.path()
    }

    /// `path` inside the directory.
    pub fn join(&self, path: impl AsRef<Path>) -> PathBuf {
        self.0.path().join(path)
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.disable_cleanup(true);
            eprintln!("kept {} for inspection", self.0.path().display());
        }
    }
}
