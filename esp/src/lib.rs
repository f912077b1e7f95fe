//! IPsec ESP (RFC 4303) security associations for the workers, sans I/O: AEAD seal and open
//! in place (AES-GCM-128/256 per RFC 4106, ChaCha20-Poly1305 per RFC 7634, through `ring`),
//! the anti-replay window with extended sequence numbers ([`replay`]), sequence numbers
//! reserved per worker in blocks, lifetimes and counters ([`sa`]).
//!
//! The ESP header and trailer codec is `wire::esp`; the tunnel-mode encapsulation around an
//! SA (outer IPv4/IPv6, UDP encapsulation, DSCP) is the data plane's
//! (`dataplane::pipeline`), the SA tables are in the published state (`vr::esp`).
#![forbid(unsafe_code)]

pub mod replay;
pub mod sa;

pub use replay::{ReplayError, ReplayWindow};
pub use sa::{
    Cipher, Lifetime, LifetimeState, OpenError, Opened, Sa, SaError, SaParams, SealError, HEAD_LEN,
    ICV_LEN, IV_LEN,
};
