//! `varouter gen-routes`: prints a synthetic routing table with the prefix-length
//! distribution and address clustering of a real Internet table (see `vr::fib::gen`), one
//! `prefix nexthop` per line, deterministic per seed.

use std::io::{BufWriter, Write};

use vr::fib::gen;

use crate::bench::fib::Family;

/// Options of `varouter gen-routes`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Number of (unique) routes.
    #[arg(long)]
    pub count: usize,
    /// Address family.
    #[arg(long, value_enum, default_value_t = Family::V4)]
    pub family: Family,
    /// Seed; the same seed gives the same table.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

/// Prints the table on standard output.
pub fn run(args: Args) -> Result<(), String> {
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let result = match args.family {
        Family::V4 => gen::routes_v4(args.count, args.seed)
            .iter()
            .try_for_each(|(p, nh)| writeln!(out, "{p} {}", nh.0)),
        Family::V6 => gen::routes_v6(args.count, args.seed)
            .iter()
            .try_for_each(|(p, nh)| writeln!(out, "{p} {}", nh.0)),
    };
    result
        .and_then(|()| out.flush())
        .map_err(|e| format!("writing routes: {e}"))
}
