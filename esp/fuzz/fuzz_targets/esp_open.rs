//! `Sa::open` on hostile input, for every cipher, with and without extended sequence numbers.
//!
//! The first byte picks the cipher and ESN, and the mode:
//!
//! - **raw** (high bit set): the rest is one ESP packet, opened by an SA of every cipher and
//!   ESN setting that has accepted nothing yet. It must be refused, and for the reason the
//!   order of the checks gives: too short or a reserved SPI → `Truncated`; another SPI than
//!   the SA's → `BadIcv`; a sequence number the fresh window cannot take → `Replay`;
//!   anything else → `BadIcv` (the fuzzer does not
//!   know the key, so a packet that opens means the ICV was not checked).
//! - **sealed**: the second byte picks the replay window (64..=1024 bits); the rest is a
//!   program of operations on a sender SA and its twin receiver (same key and salt, hashed
//!   from the whole input so that no packet of another run opens): seal a
//!   payload of the fuzzer's choice on a worker of its choice; deliver a sealed packet as
//!   it is; deliver one after byte flips, overwrites, truncation, cuts from the front or
//!   appended bytes; deliver raw bytes. Bytes equal to a sealed packet must open to exactly
//!   that packet's payload, next header and sequence number when a reference replay window
//!   (the set of accepted numbers and the highest one) takes the number, and be refused when
//!   it does not; any other bytes must be refused. At the end both SAs' packet and byte
//!   counters and the receiver's highest number agree with what was sealed and accepted.
#![no_main]

use esp::{Cipher, OpenError, Sa, SaParams, HEAD_LEN};
use libfuzzer_sys::fuzz_target;
use std::collections::HashSet;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::OnceLock;

/// Smallest packet `Sa::open` looks into: header, IV, trailer, ICV.
const MIN_PACKET: usize = HEAD_LEN + 2 + esp::ICV_LEN;
const SPI: u32 = 0x0000_1000;
/// Packets sealed in one run at most.
const MAX_SEALED: usize = 256;

fn params(cipher: Cipher, esn: bool, window: u32, keymat: Vec<u8>) -> SaParams {
    let mut p = SaParams::new(SPI, cipher, keymat);
    p.esn = esn;
    p.replay_window = window;
    p
}

/// Reads the fuzzer's bytes; `None` once they run out.
struct Input<'a>(&'a [u8]);

impl<'a> Input<'a> {
    fn u8(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }

    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_be_bytes([self.u8()?, self.u8()?]))
    }

    /// Up to `n` bytes.
    fn take(&mut self, n: usize) -> &'a [u8] {
        let (a, b) = self.0.split_at(n.min(self.0.len()));
        self.0 = b;
        a
    }
}

/// The reason a never-used SA refuses `pkt`, by the order of the checks in `Sa::open`.
fn fresh_refusal(pkt: &[u8], esn: bool, window: u32) -> OpenError {
    if pkt.len() < MIN_PACKET {
        return OpenError::Truncated;
    }
    let spi = u32::from_be_bytes([pkt[0], pkt[1], pkt[2], pkt[3]]);
    if spi < 256 {
        return OpenError::Truncated;
    }
    if spi != SPI {
        return OpenError::BadIcv;
    }
    let low = u32::from_be_bytes([pkt[4], pkt[5], pkt[6], pkt[7]]);
    // Nothing accepted: 0 is never valid; with ESN the numbers that would lie in the
    // sub-space below the first one (the window's left edge is below 0) are too old.
    if low == 0 {
        return OpenError::Replay(esp::ReplayError::TooOld(0));
    }
    if esn && u64::from(low) > u64::from(u32::MAX) - u64::from(window - 1) {
        return OpenError::Replay(esp::ReplayError::TooOld(u64::from(low)));
    }
    OpenError::BadIcv
}

fn raw(pkt: &[u8]) {
    static SAS: OnceLock<Vec<(bool, Sa)>> = OnceLock::new();
    let sas = SAS.get_or_init(|| {
        let mut v = Vec::new();
        for c in Cipher::ALL {
            for esn in [false, true] {
                let keymat = (0..c.key_len() + 4).map(|i| i as u8 ^ 0x5a).collect();
                v.push((esn, Sa::new(&params(c, esn, 1024, keymat), 2).unwrap()));
            }
        }
        v
    });
    for (esn, sa) in sas {
        let mut b = pkt.to_vec();
        let r = sa.open(0, &mut b);
        assert_eq!(
            r,
            Err(fresh_refusal(pkt, *esn, 1024)),
            "{:?} esn={esn}",
            sa.cipher()
        );
    }
}

struct Sealed {
    bytes: Vec<u8>,
    seq: u64,
    payload: Vec<u8>,
    next_header: u8,
}

/// The reference replay window: every number accepted, and the highest.
struct Model {
    seen: HashSet<u64>,
    top: u64,
    size: u64,
}

impl Model {
    fn takes(&self, seq: u64) -> bool {
        seq != 0 && (seq > self.top || (self.top - seq < self.size && !self.seen.contains(&seq)))
    }
}

struct Run {
    tx: Sa,
    rx: Sa,
    esn: bool,
    sealed: Vec<Sealed>,
    model: Model,
    opened: (u64, u64),
}

impl Run {
    fn deliver(&mut self, worker: usize, bytes: &[u8]) {
        let mut b = bytes.to_vec();
        let r = self.rx.open(worker, &mut b);
        let Some(s) = self.sealed.iter().find(|s| s.bytes == bytes) else {
            assert!(
                r.is_err(),
                "altered or made-up bytes opened: {r:?} ({} bytes)",
                bytes.len()
            );
            return;
        };
        if !self.model.takes(s.seq) {
            match r {
                Err(OpenError::Replay(_)) => {}
                // With ESN a number left of the window is read as one of the next
                // sub-space (RFC 4303 A2.2), whose ICV then fails.
                Err(OpenError::BadIcv) if self.esn => {}
                _ => panic!("seq {} should be refused: {r:?}", s.seq),
            }
            return;
        }
        let o = r.unwrap_or_else(|e| panic!("genuine seq {} refused: {e:?}", s.seq));
        assert_eq!(o.seq, s.seq);
        assert_eq!(o.next_header, s.next_header);
        assert_eq!(o.payload.start, HEAD_LEN);
        assert_eq!(&b[o.payload.clone()], &s.payload[..]);
        self.model.seen.insert(s.seq);
        self.model.top = self.model.top.max(s.seq);
        self.opened.0 += 1;
        self.opened.1 += s.payload.len() as u64;
    }
}

fn mutate(r: &mut Input, b: &mut Vec<u8>) -> Option<()> {
    match r.u8()? % 5 {
        0 if !b.is_empty() => {
            let at = usize::from(r.u16()?) % b.len();
            b[at] ^= r.u8()?;
        }
        1 if !b.is_empty() => {
            let at = usize::from(r.u16()?) % b.len();
            b[at] = r.u8()?;
        }
        2 => {
            let n = usize::from(r.u16()?) % (b.len() + 1);
            b.truncate(n);
        }
        3 => {
            let n = usize::from(r.u8()?) % (b.len() + 1);
            b.drain(..n);
        }
        _ => {
            let n = usize::from(r.u8()? % 32);
            b.extend_from_slice(r.take(n));
        }
    }
    Some(())
}

/// Keying material that depends on every byte of the input. With a fixed key the fuzzer
/// learns sealed packets from the comparisons in [`Run::deliver`] and replays them as
/// made-up bytes in a later run, where they are genuine: an SA of the same key would have
/// sealed them.
fn keymat(cipher: Cipher, data: &[u8]) -> Vec<u8> {
    (0..(cipher.key_len() + 4).div_ceil(8) as u64)
        .flat_map(|i| {
            let mut h = DefaultHasher::new();
            (i, data).hash(&mut h);
            h.finish().to_le_bytes()
        })
        .take(cipher.key_len() + 4)
        .collect()
}

fn sealed(cipher: Cipher, esn: bool, data: &[u8]) {
    let mut r = Input(data);
    let Some(w) = r.u8() else { return };
    let window = 64 * (1 + u32::from(w % 16));
    let p = params(cipher, esn, window, keymat(cipher, data));
    let mut run = Run {
        tx: Sa::new(&p, 2).unwrap(),
        rx: Sa::new(&p, 2).unwrap(),
        esn,
        sealed: Vec::new(),
        model: Model {
            seen: HashSet::new(),
            top: 0,
            size: u64::from(window),
        },
        opened: (0, 0),
    };
    let mut sent = (0u64, 0u64);
    while let Some(op) = r.u8() {
        // Worker 2 is beyond the SAs' two lines: it shares the last one.
        let worker = usize::from(op >> 4) % 3;
        match op % 4 {
            0 if run.sealed.len() < MAX_SEALED => {
                let Some(len) = r.u16() else { break };
                let Some(next_header) = r.u8() else { break };
                let len = usize::from(len) % 1600;
                let mut payload = r.take(len).to_vec();
                payload.resize(len, 0xee);
                let mut b = vec![0; HEAD_LEN + len + Sa::tail_len(len)];
                b[HEAD_LEN..HEAD_LEN + len].copy_from_slice(&payload);
                let seq = run.tx.seal(worker, &mut b, len, next_header).unwrap();
                assert_eq!(b.len() % 4, 0, "ESP packet not 4-byte aligned");
                assert!(run.sealed.iter().all(|s| s.seq != seq), "seq {seq} twice");
                sent.0 += 1;
                sent.1 += len as u64;
                run.sealed.push(Sealed {
                    bytes: b,
                    seq,
                    payload,
                    next_header,
                });
            }
            1 if !run.sealed.is_empty() => {
                let Some(i) = r.u8() else { break };
                let b = run.sealed[usize::from(i) % run.sealed.len()].bytes.clone();
                run.deliver(worker, &b);
            }
            2 if !run.sealed.is_empty() => {
                let Some(i) = r.u8() else { break };
                let Some(n) = r.u8() else { break };
                let mut b = run.sealed[usize::from(i) % run.sealed.len()].bytes.clone();
                for _ in 0..=n % 4 {
                    if mutate(&mut r, &mut b).is_none() {
                        break;
                    }
                }
                run.deliver(worker, &b);
            }
            3 => {
                let Some(n) = r.u8() else { break };
                let b = r.take(usize::from(n)).to_vec();
                run.deliver(worker, &b);
            }
            _ => {}
        }
    }
    assert_eq!(run.tx.traffic(), sent, "sender counters");
    assert_eq!(run.rx.traffic(), run.opened, "receiver counters");
    assert_eq!(run.rx.replay_top(), run.model.top, "highest accepted");
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    if sel & 0x80 != 0 {
        raw(rest);
        return;
    }
    let cipher = Cipher::ALL[usize::from(sel % 3)];
    let esn = sel & 0x40 != 0;
    sealed(cipher, esn, rest);
});
