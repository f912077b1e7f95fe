//! Build script: with the `dpdk` feature, compiles the C shim over DPDK's `static inline`
//! functions and links DPDK as `pkg-config libdpdk` says. Without it, does nothing.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    #[cfg(feature = "dpdk")]
    dpdk::build();
}

#[cfg(feature = "dpdk")]
mod dpdk {
    use std::process::Command;

    fn pkg_config(arg: &str) -> Vec<String> {
        let out = Command::new("pkg-config")
            .args([arg, "libdpdk"])
            .output()
            .unwrap_or_else(|e| panic!("the `dpdk` feature needs pkg-config and libdpdk-dev (apt-get install libdpdk-dev pkg-config): {e}"));
        if !out.status.success() {
            panic!(
                "`pkg-config {arg} libdpdk` failed: {}; the `dpdk` feature needs DPDK 22.11 (apt-get install libdpdk-dev)",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .map(str::to_string)
            .collect()
    }

    pub fn build() {
        println!("cargo:rerun-if-changed=src/port/dpdk/shim.c");
        println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");
        let cflags = pkg_config("--cflags");
        let mut b = cc::Build::new();
        b.file("src/port/dpdk/shim.c").opt_level(3).warnings(true);
        let mut it = cflags.iter();
        while let Some(f) = it.next() {
            if let Some(dir) = f.strip_prefix("-I") {
                b.include(dir);
            } else if f == "-include" {
                if let Some(h) = it.next() {
                    b.flag("-include").flag(h);
                }
            } else {
                b.flag(f);
            }
        }
        b.compile("varouter_dpdk_shim");
        for l in pkg_config("--libs") {
            if let Some(lib) = l.strip_prefix("-l") {
                println!("cargo:rustc-link-lib=dylib={lib}");
            } else if let Some(dir) = l.strip_prefix("-L") {
                println!("cargo:rustc-link-search=native={dir}");
            }
        }
    }
}
