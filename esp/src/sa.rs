//! A security association as the workers use it: the AEAD key, the outbound sequence
//! numbers, the inbound replay window, lifetimes and counters.
//!
//! **Transforms.** AES-GCM with a 16-byte ICV and an 8-byte explicit IV (RFC 4106) with a
//! 128- or 256-bit key, and ChaCha20-Poly1305 (RFC 7634); both take keying material of the
//! key followed by a 4-byte salt, and build the nonce as salt ‖ IV. The IV is the 64-bit
//! sequence number (unique per key, as RFC 4106 §3.1 and RFC 7634 §2 allow). The AAD is
//! SPI ‖ sequence number, or SPI ‖ high 32 bits ‖ low 32 bits with extended sequence numbers
//! (RFC 4106 §5, RFC 7634 §2.1).
//!
//! **Sequence numbers without cross-worker contention.** A worker takes numbers from a block
//! of [`SEQ_BLOCK`] it reserved with one atomic add on the SA's shared counter, and keeps the
//! block on its own cache line; packets of one SA sent by two workers at once may leave a
//! few numbers out of order (at most `SEQ_BLOCK × (workers − 1)`), well inside any
//! receiver's replay window of 64 or more. A caller whose index is past the workers (the
//! control core, which seals what it originates or routes again, e.g. a Mobile IP replay)
//! does not share a worker's line: it takes one number at a time from the shared counter with
//! an atomic add, and counts on a line of its own with atomic adds, so two threads never hand
//! out the same number (the same GCM nonce). Without ESN the numbers end at 2³² − 1
//! ([`SealError::SeqExhausted`]: the SA must be replaced).
//!
//! **Replay window.** Behind a mutex, taken twice per inbound packet (check before the ICV,
//! record after): uncontended unless two workers receive the same SA at once.
//!
//! **Lifetimes** in bytes and seconds, soft and hard: the workers count bytes on their own
//! lines; the control core reads them ([`Sa::lifetime_state`]) on its tick, reports a soft
//! expiry, and at a hard one marks the SA expired ([`Sa::expire`]) — from then on every
//! packet of the SA is refused ([`SealError::Expired`], [`OpenError::Expired`]) — and
//! removes it. A hard byte limit is thus enforced to within one control tick of traffic.

use crate::replay::{ReplayError, ReplayWindow, DEFAULT_WINDOW};
use ring::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use wire::esp::{self as esp_wire, EspPacket, Trailer};

/// Bytes of explicit IV in every packet.
pub const IV_LEN: usize = 8;
/// Bytes of ICV (the AEAD tag).
pub const ICV_LEN: usize = 16;
/// Bytes of salt after the key in the keying material.
pub const SALT_LEN: usize = 4;
/// ESP header and IV: what goes in front of the payload.
pub const HEAD_LEN: usize = esp_wire::HEADER_LEN + IV_LEN;
/// Sequence numbers a worker reserves at a time.
pub const SEQ_BLOCK: u64 = 32;
/// Smallest ESP packet that can be valid: header, IV, trailer, ICV.
pub const MIN_PACKET: usize = HEAD_LEN + esp_wire::TRAILER_LEN + ICV_LEN;

/// The AEAD of an SA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cipher {
    /// AES-GCM with a 128-bit key (RFC 4106), the IANA transform `ENCR_AES_GCM_16`.
    AesGcm128,
    /// AES-GCM with a 256-bit key.
    AesGcm256,
    /// ChaCha20-Poly1305 (RFC 7634).
    ChaCha20Poly1305,
}

impl Cipher {
    /// Every cipher, for listings and error messages.
    pub const ALL: [Cipher; 3] = [
        Cipher::AesGcm128,
        Cipher::AesGcm256,
        Cipher::ChaCha20Poly1305,
    ];

    /// The profile's name of it.
    pub fn name(self) -> &'static str {
        match self {
            Cipher::AesGcm128 => "aes-gcm-128",
            Cipher::AesGcm256 => "aes-gcm-256",
            Cipher::ChaCha20Poly1305 => "chacha20-poly1305",
        }
    }

    /// The cipher a profile names.
    pub fn from_name(name: &str) -> Option<Cipher> {
        Cipher::ALL.into_iter().find(|c| c.name() == name)
    }

    /// Bytes of key (without the salt).
    pub fn key_len(self) -> usize {
        match self {
            Cipher::AesGcm128 => 16,
            Cipher::AesGcm256 | Cipher::ChaCha20Poly1305 => 32,
        }
    }

    fn algorithm(self) -> &'static aead::Algorithm {
        match self {
            Cipher::AesGcm128 => &aead::AES_128_GCM,
            Cipher::AesGcm256 => &aead::AES_256_GCM,
            Cipher::ChaCha20Poly1305 => &aead::CHACHA20_POLY1305,
        }
    }
}

/// Soft and hard limits of an SA (`None`: no limit).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Lifetime {
    /// Bytes (of payload) after which the SA should be replaced.
    pub soft_bytes: Option<u64>,
    /// Bytes after which the SA is dead.
    pub hard_bytes: Option<u64>,
    /// Age after which the SA should be replaced.
    pub soft_time: Option<Duration>,
    /// Age after which the SA is dead.
    pub hard_time: Option<Duration>,
}

/// Where an SA is in its lifetime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LifetimeState {
    /// Within every limit.
    Live,
    /// Past a soft limit.
    Soft,
    /// Past a hard limit.
    Hard,
}

/// What an SA is made from.
#[derive(Clone, PartialEq, Eq)]
pub struct SaParams {
    /// The SPI (256 and above).
    pub spi: u32,
    /// The AEAD.
    pub cipher: Cipher,
    /// Key followed by the 4-byte salt (`cipher.key_len() + 4` bytes).
    pub keymat: Vec<u8>,
    /// Extended (64-bit) sequence numbers (RFC 4304).
    pub esn: bool,
    /// Replay window in bits (inbound SAs; see [`ReplayWindow::new`]).
    pub replay_window: u32,
    /// Limits.
    pub lifetime: Lifetime,
}

impl std::fmt::Debug for SaParams {
    // Keys stay out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SaParams")
            .field("spi", &format_args!("{:#010x}", self.spi))
            .field("cipher", &self.cipher.name())
            .field("esn", &self.esn)
            .field("replay_window", &self.replay_window)
            .field("lifetime", &self.lifetime)
            .finish_non_exhaustive()
    }
}

impl SaParams {
    /// Parameters with the default replay window, no ESN and no lifetime.
    pub fn new(spi: u32, cipher: Cipher, keymat: Vec<u8>) -> Self {
        SaParams {
            spi,
            cipher,
            keymat,
            esn: false,
            replay_window: DEFAULT_WINDOW,
            lifetime: Lifetime::default(),
        }
    }
}

/// Why an SA cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SaError {
    /// SPI 0..=255.
    #[error("SPI {0} is reserved (SPIs start at 256, RFC 4303 §2.1)")]
    ReservedSpi(u32),
    /// Keying material of the wrong length.
    #[error("{cipher} needs {need} bytes of key and salt ({key} + 4), {got} given")]
    KeyLength {
        /// The cipher's name.
        cipher: &'static str,
        /// Bytes needed.
        need: usize,
        /// Bytes of key in that.
        key: usize,
        /// Bytes given.
        got: usize,
    },
    /// A soft limit above its hard limit.
    #[error("the soft {0} lifetime is above the hard one")]
    SoftAboveHard(&'static str),
}

/// Why a packet cannot be sealed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// The SA is past its hard lifetime.
    #[error("the SA has expired")]
    Expired,
    /// Every sequence number has been used (2³² − 1 without ESN).
    #[error("the SA has used all its sequence numbers")]
    SeqExhausted,
    /// The buffer is not header + payload + trailer + ICV long.
    #[error("the buffer does not fit the payload")]
    BadLayout,
}

/// Why a packet cannot be opened (each a named drop on the workers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    /// Shorter than header + IV + trailer + ICV, or a reserved SPI.
    #[error("truncated ESP packet")]
    Truncated,
    /// The ICV does not verify (wrong key, altered packet, wrongly inferred ESN), or the
    /// packet names another SPI than the SA's (the SPI is authenticated).
    #[error("the ICV does not verify")]
    BadIcv,
    /// Replayed or too old.
    #[error(transparent)]
    Replay(#[from] ReplayError),
    /// The decrypted trailer is impossible (pad length too long, padding not 1, 2, 3, …).
    #[error("bad padding in the ESP trailer")]
    BadPadding,
    /// The SA is past its hard lifetime.
    #[error("the SA has expired")]
    Expired,
}

/// An opened packet: where its payload is in the buffer given to [`Sa::open`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    /// The full sequence number.
    pub seq: u64,
    /// The trailer's next header (4 IPv4, 41 IPv6, 59 dummy).
    pub next_header: u8,
    /// The payload, as a range of the buffer.
    pub payload: Range<usize>,
}

/// One worker's line of an SA: its block of sequence numbers and its counters.
#[derive(Debug, Default)]
#[repr(align(64))]
struct WorkerLine {
    seq_next: AtomicU64,
    seq_end: AtomicU64,
    packets: AtomicU64,
    bytes: AtomicU64,
}

impl WorkerLine {
    /// Adds to a counter only this worker writes (a load and a store, no locked add).
    #[inline]
    fn add(c: &AtomicU64, n: u64) {
        c.store(c.load(Relaxed).wrapping_add(n), Relaxed);
    }
}

/// A security association, shared by every worker (behind an `Arc` in the published state)
/// and kept across versions while it lives.
pub struct Sa {
    spi: u32,
    cipher: Cipher,
    esn: bool,
    key: LessSafeKey,
    salt: [u8; SALT_LEN],
    lifetime: Lifetime,
    installed: Instant,
    /// Next unreserved block of sequence numbers.
    seq_blocks: AtomicU64,
    replay: Mutex<ReplayWindow>,
    expired: AtomicBool,
    lines: Box<[WorkerLine]>,
    /// The line of every caller past the workers (atomic adds only).
    shared: WorkerLine,
}

impl std::fmt::Debug for Sa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sa")
            .field("spi", &format_args!("{:#010x}", self.spi))
            .field("cipher", &self.cipher.name())
            .field("esn", &self.esn)
            .finish_non_exhaustive()
    }
}

impl Sa {
    /// Makes an SA for `workers` workers (worker indices beyond share the last line).
    pub fn new(p: &SaParams, workers: usize) -> Result<Sa, SaError> {
        if p.spi < 256 {
            return Err(SaError::ReservedSpi(p.spi));
        }
        let key_len = p.cipher.key_len();
        if p.keymat.len() != key_len + SALT_LEN {
            return Err(SaError::KeyLength {
                cipher: p.cipher.name(),
                need: key_len + SALT_LEN,
                key: key_len,
                got: p.keymat.len(),
            });
        }
        let l = &p.lifetime;
        if matches!((l.soft_bytes, l.hard_bytes), (Some(s), Some(h)) if s > h) {
            return Err(SaError::SoftAboveHard("byte"));
        }
        if matches!((l.soft_time, l.hard_time), (Some(s), Some(h)) if s > h) {
            return Err(SaError::SoftAboveHard("time"));
        }
        let unbound =
            UnboundKey::new(p.cipher.algorithm(), &p.keymat[..key_len]).map_err(|_| {
                SaError::KeyLength {
                    cipher: p.cipher.name(),
                    need: key_len + SALT_LEN,
                    key: key_len,
                    got: p.keymat.len(),
                }
            })?;
        let mut salt = [0; SALT_LEN];
        salt.copy_from_slice(&p.keymat[key_len..]);
        Ok(Sa {
            spi: p.spi,
            cipher: p.cipher,
            esn: p.esn,
            key: LessSafeKey::new(unbound),
            salt,
            lifetime: p.lifetime,
            installed: Instant::now(),
            seq_blocks: AtomicU64::new(1),
            replay: Mutex::new(ReplayWindow::new(p.replay_window, p.esn)),
            expired: AtomicBool::new(false),
            lines: (0..workers.max(1)).map(|_| WorkerLine::default()).collect(),
            shared: WorkerLine::default(),
        })
    }

    /// The SPI.
    pub fn spi(&self) -> u32 {
        self.spi
    }

    /// The AEAD.
    pub fn cipher(&self) -> Cipher {
        self.cipher
    }

    /// Extended sequence numbers in use.
    pub fn esn(&self) -> bool {
        self.esn
    }

    /// Bytes a packet of `payload_len` bytes grows by at the end: padding, trailer, ICV.
    #[inline]
    pub fn tail_len(payload_len: usize) -> usize {
        Trailer::pad_for(payload_len) + esp_wire::TRAILER_LEN + ICV_LEN
    }

    /// Counts `packets` and `bytes` on `worker`'s line (atomic adds past the workers).
    #[inline]
    fn count(&self, worker: usize, bytes: u64) {
        match self.lines.get(worker) {
            Some(l) => {
                WorkerLine::add(&l.packets, 1);
                WorkerLine::add(&l.bytes, bytes);
            }
            None => {
                self.shared.packets.fetch_add(1, Relaxed);
                self.shared.bytes.fetch_add(bytes, Relaxed);
            }
        }
    }

    /// The next sequence number for `worker`.
    #[inline]
    fn next_seq(&self, worker: usize) -> Result<u64, SealError> {
        let Some(l) = self.lines.get(worker) else {
            // Past the workers: one number, atomically (see the module docs).
            let next = self.seq_blocks.fetch_add(1, Relaxed);
            if !self.esn && next > u64::from(u32::MAX) {
                return Err(SealError::SeqExhausted);
            }
            return Ok(next);
        };
        let mut next = l.seq_next.load(Relaxed);
        if next >= l.seq_end.load(Relaxed) {
            next = self.seq_blocks.fetch_add(SEQ_BLOCK, Relaxed);
            l.seq_end.store(next + SEQ_BLOCK, Relaxed);
        }
        if !self.esn && next > u64::from(u32::MAX) {
            return Err(SealError::SeqExhausted);
        }
        l.seq_next.store(next + 1, Relaxed);
        Ok(next)
    }

    #[inline]
    fn nonce(&self, iv: &[u8]) -> Nonce {
        let mut n = [0; 12];
        n[..SALT_LEN].copy_from_slice(&self.salt);
        n[SALT_LEN..].copy_from_slice(&iv[..IV_LEN]);
        Nonce::assume_unique_for_key(n)
    }

    /// The AAD of a packet with sequence number `seq`: its length and bytes.
    #[inline]
    fn aad(&self, seq: u64) -> ([u8; 12], usize) {
        let mut a = [0; 12];
        a[..4].copy_from_slice(&self.spi.to_be_bytes());
        if self.esn {
            a[4..8].copy_from_slice(&((seq >> 32) as u32).to_be_bytes());
            a[8..12].copy_from_slice(&(seq as u32).to_be_bytes());
            (a, 12)
        } else {
            a[4..8].copy_from_slice(&(seq as u32).to_be_bytes());
            (a, 8)
        }
    }

    /// Seals in place, on `worker`: `pkt` is [`HEAD_LEN`] bytes for the header and IV, the
    /// `payload_len` bytes of payload, then [`Sa::tail_len`] bytes for padding, trailer and
    /// ICV. Writes everything around the payload and encrypts it. Returns the sequence
    /// number used.
    pub fn seal(
        &self,
        worker: usize,
        pkt: &mut [u8],
        payload_len: usize,
        next_header: u8,
    ) -> Result<u64, SealError> {
        if pkt.len() != HEAD_LEN + payload_len + Self::tail_len(payload_len) {
            return Err(SealError::BadLayout);
        }
        if self.expired.load(Relaxed) {
            return Err(SealError::Expired);
        }
        let seq = self.next_seq(worker)?;
        esp_wire::emit_header(pkt, self.spi, seq as u32);
        pkt[esp_wire::HEADER_LEN..HEAD_LEN].copy_from_slice(&seq.to_be_bytes());
        let icv_at = pkt.len() - ICV_LEN;
        Trailer::emit(&mut pkt[HEAD_LEN + payload_len..icv_at], next_header);
        let nonce = self.nonce(&pkt[esp_wire::HEADER_LEN..HEAD_LEN]);
        let (aad, aad_len) = self.aad(seq);
        let (body, icv) = pkt[HEAD_LEN..].split_at_mut(icv_at - HEAD_LEN);
        let tag = self
            .key
            .seal_in_place_separate_tag(nonce, Aad::from(&aad[..aad_len]), body)
            .map_err(|_| SealError::BadLayout)?;
        icv.copy_from_slice(tag.as_ref());
        self.count(worker, payload_len as u64);
        Ok(seq)
    }

    /// Opens in place, on `worker`: `esp` is the ESP packet from the SPI to the end of the
    /// ICV. Checks the replay window, verifies and decrypts, checks the trailer, records
    /// the sequence number. The payload is left in place.
    pub fn open(&self, worker: usize, esp: &mut [u8]) -> Result<Opened, OpenError> {
        if esp.len() < MIN_PACKET {
            return Err(OpenError::Truncated);
        }
        if self.expired.load(Relaxed) {
            return Err(OpenError::Expired);
        }
        let (spi, seq_low) = match EspPacket::new_checked(&esp[..]) {
            Ok(p) => (p.spi(), p.seq()),
            Err(_) => return Err(OpenError::Truncated),
        };
        // The AAD carries the SA's SPI, not the packet's: a packet naming another SPI would
        // verify all the same, so it is refused here, before the window and any decryption.
        if spi != self.spi {
            return Err(OpenError::BadIcv);
        }
        let seq = self.window().check(seq_low)?;
        let nonce = self.nonce(&esp[esp_wire::HEADER_LEN..HEAD_LEN]);
        let (aad, aad_len) = self.aad(seq);
        let plain_len = self
            .key
            .open_in_place(nonce, Aad::from(&aad[..aad_len]), &mut esp[HEAD_LEN..])
            .map_err(|_| OpenError::BadIcv)?
            .len();
        let (t, data) = Trailer::parse(&esp[HEAD_LEN..HEAD_LEN + plain_len])
            .map_err(|_| OpenError::BadPadding)?;
        self.window().accept(seq)?;
        self.count(worker, data as u64);
        Ok(Opened {
            seq,
            next_header: t.next_header,
            payload: HEAD_LEN..HEAD_LEN + data,
        })
    }

    fn window(&self) -> std::sync::MutexGuard<'_, ReplayWindow> {
        // A worker that panicked while holding the lock left a consistent window (every
        // update is a single assignment sequence that cannot panic midway), so take it.
        self.replay.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Packets and payload bytes sealed or opened, over every worker.
    pub fn traffic(&self) -> (u64, u64) {
        self.lines
            .iter()
            .chain([&self.shared])
            .fold((0, 0), |(p, b), l| {
                (p + l.packets.load(Relaxed), b + l.bytes.load(Relaxed))
            })
    }

    /// The highest sequence number handed out (outbound) — an upper bound while workers
    /// still hold parts of their blocks.
    pub fn seq_reserved(&self) -> u64 {
        self.seq_blocks.load(Relaxed) - 1
    }

    /// The highest sequence number accepted (inbound).
    pub fn replay_top(&self) -> u64 {
        self.window().top()
    }

    /// Age of the SA.
    pub fn age(&self) -> Duration {
        self.installed.elapsed()
    }

    /// Where the SA stands against its limits now.
    pub fn lifetime_state(&self) -> LifetimeState {
        self.lifetime_state_at(self.age(), self.traffic().1)
    }

    /// Where an SA of age `age` that carried `bytes` stands against its limits.
    pub fn lifetime_state_at(&self, age: Duration, bytes: u64) -> LifetimeState {
        let l = &self.lifetime;
        let past = |b: Option<u64>, t: Option<Duration>| {
            b.is_some_and(|b| bytes >= b) || t.is_some_and(|t| age >= t)
        };
        if self.expired.load(Relaxed) || past(l.hard_bytes, l.hard_time) {
            LifetimeState::Hard
        } else if past(l.soft_bytes, l.soft_time) {
            LifetimeState::Soft
        } else {
            LifetimeState::Live
        }
    }

    /// Marks the SA dead: every later packet is refused.
    pub fn expire(&self) {
        self.expired.store(true, Relaxed);
    }

    /// True once [`expire`](Self::expire) ran.
    pub fn is_expired(&self) -> bool {
        self.expired.load(Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(cipher: Cipher, esn: bool) -> Sa {
        let mut p = SaParams::new(0x1000, cipher, (0..cipher.key_len() as u8 + 4).collect());
        p.esn = esn;
        Sa::new(&p, 2).unwrap()
    }

    fn sealed(s: &Sa, worker: usize, payload: &[u8]) -> Vec<u8> {
        let mut b = vec![0; HEAD_LEN + payload.len() + Sa::tail_len(payload.len())];
        b[HEAD_LEN..HEAD_LEN + payload.len()].copy_from_slice(payload);
        s.seal(worker, &mut b, payload.len(), 4).unwrap();
        b
    }

    #[test]
    fn seal_then_open_for_every_cipher_and_length() {
        for c in Cipher::ALL {
            for esn in [false, true] {
                let tx = sa(c, esn);
                let rx = sa(c, esn);
                for len in [0usize, 1, 2, 3, 4, 63, 64, 1400] {
                    let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
                    let mut b = sealed(&tx, 0, &payload);
                    assert_eq!((b.len() - HEAD_LEN - ICV_LEN) % 4, 0);
                    if len > 0 {
                        assert_ne!(&b[HEAD_LEN..HEAD_LEN + len], &payload[..], "{c:?} {len}");
                    }
                    let o = rx.open(1, &mut b).unwrap();
                    assert_eq!(&b[o.payload.clone()], &payload[..]);
                    assert_eq!(o.next_header, 4);
                }
            }
        }
    }

    #[test]
    fn sequence_numbers_come_in_blocks_per_worker_and_are_iv() {
        let s = sa(Cipher::AesGcm128, false);
        let a = sealed(&s, 0, b"x");
        let b = sealed(&s, 1, b"x");
        let c = sealed(&s, 0, b"x");
        let seq = |p: &[u8]| u32::from_be_bytes([p[4], p[5], p[6], p[7]]);
        assert_eq!((seq(&a), seq(&b), seq(&c)), (1, 1 + SEQ_BLOCK as u32, 2));
        assert_eq!(&a[8..16], &1u64.to_be_bytes());
        assert_eq!(s.traffic(), (3, 3));
    }

    #[test]
    fn the_control_core_and_the_last_worker_never_share_a_number() {
        // Before, every index past the workers shared the last worker's line and its
        // unlocked block: both threads could seal under one sequence number (one nonce).
        let s = std::sync::Arc::new(sa(Cipher::AesGcm128, false));
        let seq = |p: &[u8]| u32::from_be_bytes([p[4], p[5], p[6], p[7]]);
        let last = s.lines.len() - 1;
        let run = |w: usize| {
            let s = s.clone();
            std::thread::spawn(move || {
                (0..3000)
                    .map(|_| seq(&sealed(&s, w, b"x")))
                    .collect::<Vec<_>>()
            })
        };
        let (a, b) = (run(last), run(usize::MAX));
        let mut all = a.join().unwrap();
        all.extend(b.join().unwrap());
        let n = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(
            all.len(),
            n,
            "a sequence number (a GCM nonce) was used twice"
        );
        assert_eq!(s.traffic(), (6000, 6000));
    }

    #[test]
    fn a_changed_byte_anywhere_fails_the_icv() {
        let tx = sa(Cipher::AesGcm256, true);
        let good = sealed(&tx, 0, &[7; 40]);
        for i in 0..good.len() {
            // The sequence number is checked below.
            if (4..8).contains(&i) {
                continue;
            }
            let rx = sa(Cipher::AesGcm256, true);
            let mut b = good.clone();
            b[i] ^= 0x01;
            assert_eq!(rx.open(0, &mut b), Err(OpenError::BadIcv), "byte {i}");
        }
        let rx = sa(Cipher::AesGcm256, true);
        let mut b = good.clone();
        b[7] ^= 0x02;
        assert_eq!(rx.open(0, &mut b), Err(OpenError::BadIcv));
    }

    #[test]
    fn replays_are_refused_before_decryption() {
        let tx = sa(Cipher::ChaCha20Poly1305, false);
        let rx = sa(Cipher::ChaCha20Poly1305, false);
        let p = sealed(&tx, 0, b"hello");
        rx.open(0, &mut p.clone()).unwrap();
        assert_eq!(
            rx.open(0, &mut p.clone()),
            Err(OpenError::Replay(ReplayError::Duplicate(1)))
        );
        // A failed ICV records nothing: the genuine packet still gets through.
        let q = sealed(&tx, 0, b"again");
        let mut bad = q.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert_eq!(rx.open(0, &mut bad), Err(OpenError::BadIcv));
        assert!(rx.open(0, &mut q.clone()).is_ok());
        assert_eq!(rx.replay_top(), 2);
    }

    #[test]
    fn truncated_and_wrong_key_packets() {
        let tx = sa(Cipher::AesGcm128, false);
        let p = sealed(&tx, 0, &[1; 20]);
        let rx = sa(Cipher::AesGcm128, false);
        for n in 0..MIN_PACKET {
            assert_eq!(rx.open(0, &mut p[..n].to_vec()), Err(OpenError::Truncated));
        }
        let mut other = SaParams::new(0x1000, Cipher::AesGcm128, vec![9; 20]);
        other.esn = false;
        let other = Sa::new(&other, 1).unwrap();
        assert_eq!(other.open(0, &mut p.clone()), Err(OpenError::BadIcv));
    }

    #[test]
    fn bad_padding_is_its_own_error() {
        // Encrypt a plaintext whose trailer lies about its padding, with the same key.
        let tx = sa(Cipher::AesGcm128, false);
        let rx = sa(Cipher::AesGcm128, false);
        let mut b = vec![0; HEAD_LEN + 6 + Sa::tail_len(6)];
        tx.seal(0, &mut b, 6, 4).unwrap();
        // Re-seal by hand: same layout, trailer claiming 200 bytes of padding.
        let seq = 2u64;
        esp_wire::emit_header(&mut b, 0x1000, seq as u32);
        b[8..16].copy_from_slice(&seq.to_be_bytes());
        let icv_at = b.len() - ICV_LEN;
        b[icv_at - 2] = 200;
        let nonce = tx.nonce(&b[8..16]);
        let (aad, n) = tx.aad(seq);
        let (body, icv) = b[HEAD_LEN..].split_at_mut(icv_at - HEAD_LEN);
        let tag = tx
            .key
            .seal_in_place_separate_tag(nonce, Aad::from(&aad[..n]), body)
            .unwrap();
        icv.copy_from_slice(tag.as_ref());
        assert_eq!(rx.open(0, &mut b), Err(OpenError::BadPadding));
    }

    #[test]
    fn exhaustion_expiry_and_lifetimes() {
        let s = sa(Cipher::AesGcm128, false);
        s.seq_blocks.store(u64::from(u32::MAX), Relaxed);
        let mut b = vec![0; HEAD_LEN + Sa::tail_len(0)];
        assert_eq!(s.seal(0, &mut b, 0, 59), Ok(u64::from(u32::MAX)));
        assert_eq!(s.seal(0, &mut b, 0, 59), Err(SealError::SeqExhausted));
        let e = sa(Cipher::AesGcm128, true);
        e.seq_blocks.store(u64::from(u32::MAX), Relaxed);
        e.seal(0, &mut b, 0, 59).unwrap();
        assert_eq!(e.seal(0, &mut b, 0, 59), Ok(1 << 32));

        let mut p = SaParams::new(0x2000, Cipher::AesGcm128, vec![1; 20]);
        p.lifetime = Lifetime {
            soft_bytes: Some(100),
            hard_bytes: Some(200),
            soft_time: Some(Duration::from_secs(10)),
            hard_time: Some(Duration::from_secs(20)),
        };
        let l = Sa::new(&p, 1).unwrap();
        assert_eq!(l.lifetime_state_at(Duration::ZERO, 99), LifetimeState::Live);
        assert_eq!(
            l.lifetime_state_at(Duration::ZERO, 100),
            LifetimeState::Soft
        );
        assert_eq!(
            l.lifetime_state_at(Duration::from_secs(20), 0),
            LifetimeState::Hard
        );
        l.expire();
        assert_eq!(l.lifetime_state(), LifetimeState::Hard);
        assert_eq!(l.seal(0, &mut b, 0, 59), Err(SealError::Expired));
        assert_eq!(l.open(0, &mut b), Err(OpenError::Expired));
    }

    #[test]
    fn bad_parameters_are_refused() {
        assert_eq!(
            Sa::new(&SaParams::new(255, Cipher::AesGcm128, vec![0; 20]), 1).err(),
            Some(SaError::ReservedSpi(255))
        );
        let e = Sa::new(&SaParams::new(256, Cipher::AesGcm256, vec![0; 20]), 1).err();
        assert!(matches!(e, Some(SaError::KeyLength { need: 36, .. })));
        let mut p = SaParams::new(256, Cipher::AesGcm128, vec![0; 20]);
        p.lifetime.soft_bytes = Some(2);
        p.lifetime.hard_bytes = Some(1);
        assert_eq!(Sa::new(&p, 1).err(), Some(SaError::SoftAboveHard("byte")));
        assert!(!format!("{p:?}").contains("keymat"));
    }
}
