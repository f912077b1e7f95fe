//! Malformed and hostile input to the SAs (issue 13): zero-length payloads, every
//! truncation, bad ICVs, other and reserved SPIs, replay floods, and the replay window at the
//! end of the 64-bit space. Whatever is refused leaves the SA as it was: the genuine traffic
//! after it opens, and the counters count the genuine traffic only.

use esp::replay::ReplayWindow;
use esp::{Cipher, OpenError, ReplayError, Sa, SaError, SaParams, HEAD_LEN, ICV_LEN};
use wire::esp::EspPacket;

const SPI: u32 = 0x0001_0000;
/// Header, IV, trailer, ICV.
const MIN_PACKET: usize = HEAD_LEN + 2 + ICV_LEN;

fn params(spi: u32, cipher: Cipher, esn: bool) -> SaParams {
    let keymat = (0..cipher.key_len() + 4)
        .map(|i| (i * 11 + 3) as u8)
        .collect();
    let mut p = SaParams::new(spi, cipher, keymat);
    p.esn = esn;
    p
}

/// A sender and its receiver.
fn pair(cipher: Cipher, esn: bool) -> (Sa, Sa) {
    let p = params(SPI, cipher, esn);
    (Sa::new(&p, 1).unwrap(), Sa::new(&p, 1).unwrap())
}

fn seal(tx: &Sa, payload: &[u8], next_header: u8) -> Vec<u8> {
    let mut b = vec![0; HEAD_LEN + payload.len() + Sa::tail_len(payload.len())];
    b[HEAD_LEN..HEAD_LEN + payload.len()].copy_from_slice(payload);
    tx.seal(0, &mut b, payload.len(), next_header).unwrap();
    b
}

fn every_sa() -> impl Iterator<Item = (Cipher, bool)> {
    Cipher::ALL
        .into_iter()
        .flat_map(|c| [(c, false), (c, true)])
}

#[test]
fn zero_length_payload_round_trips() {
    for (c, esn) in every_sa() {
        let (tx, rx) = pair(c, esn);
        // A dummy packet (next header 59) with nothing in it: 2 bytes of padding bring the
        // trailer to a 4-byte boundary.
        let mut b = seal(&tx, &[], 59);
        assert_eq!(b.len(), MIN_PACKET + 2, "{c:?}");
        assert_ne!(
            &b[HEAD_LEN..HEAD_LEN + 4],
            &[1, 2, 2, 59],
            "the trailer is encrypted"
        );
        let o = rx.open(0, &mut b).unwrap();
        assert_eq!((o.seq, o.next_header), (1, 59));
        assert_eq!(o.payload, HEAD_LEN..HEAD_LEN);
        assert_eq!(rx.traffic(), (1, 0));
        assert_eq!(tx.traffic(), (1, 0));
        // An IPv4 next header with no packet behind it opens too: what the data plane does
        // with an empty inner packet is its business (it drops it as malformed).
        let mut b = seal(&tx, &[], 4);
        assert_eq!(rx.open(0, &mut b).unwrap().payload.len(), 0);
    }
}

#[test]
fn every_truncation_is_refused_and_changes_nothing() {
    for (c, esn) in every_sa() {
        let (tx, rx) = pair(c, esn);
        let payload: Vec<u8> = (0..45).collect();
        let good = seal(&tx, &payload, 4);
        for n in 0..good.len() {
            let r = rx.open(0, &mut good[..n].to_vec());
            let want = if n < MIN_PACKET {
                OpenError::Truncated
            } else {
                OpenError::BadIcv
            };
            assert_eq!(r, Err(want), "{c:?} esn={esn}: first {n} bytes");
        }
        // Cut from the front: the SPI and sequence number come from the wrong bytes.
        for k in 1..good.len() {
            let r = rx.open(0, &mut good[k..].to_vec());
            assert!(
                r.is_err(),
                "{c:?} esn={esn}: without the first {k} bytes: {r:?}"
            );
        }
        assert_eq!(rx.traffic(), (0, 0));
        assert_eq!(rx.replay_top(), 0);
        let o = rx.open(0, &mut good.clone()).unwrap();
        assert_eq!(o.seq, 1);
        assert_eq!(rx.traffic(), (1, 45));
    }
}

#[test]
fn bad_icvs_are_refused_and_do_not_move_the_window() {
    for (c, esn) in every_sa() {
        let (tx, rx) = pair(c, esn);
        let good = seal(&tx, b"genuine", 4);
        // Every single-bit error in the ICV, and in the ciphertext and IV before it.
        for byte in HEAD_LEN - 8..good.len() {
            for bit in 0..8 {
                let mut b = good.clone();
                b[byte] ^= 1 << bit;
                assert_eq!(rx.open(0, &mut b), Err(OpenError::BadIcv), "{byte}.{bit}");
            }
        }
        // A flood of forgeries far ahead of the window (a would-be DoS by moving it).
        for seq in 2..2000u32 {
            let mut b = good.clone();
            b[4..8].copy_from_slice(&(seq * 1000).to_be_bytes());
            assert_eq!(rx.open(0, &mut b), Err(OpenError::BadIcv));
        }
        // The same SPI under another key.
        let mut other = params(SPI, c, esn);
        other.keymat[0] ^= 1;
        let other = Sa::new(&other, 1).unwrap();
        assert_eq!(other.open(0, &mut good.clone()), Err(OpenError::BadIcv));
        assert_eq!((rx.traffic(), rx.replay_top()), ((0, 0), 0));
        assert!(rx.open(0, &mut good.clone()).is_ok());
        assert_eq!((rx.traffic(), rx.replay_top()), ((1, 7), 1));
    }
}

#[test]
fn a_packet_naming_another_spi_does_not_open() {
    for (c, esn) in every_sa() {
        let (tx, rx) = pair(c, esn);
        let good = seal(&tx, b"for 0x10000", 4);
        // The SA of another SPI with the same key (an SA table keyed wrongly, or keys
        // shared between SAs) must not take it.
        let twin = Sa::new(&params(SPI + 1, c, esn), 1).unwrap();
        assert_eq!(twin.open(0, &mut good.clone()), Err(OpenError::BadIcv));
        // Nor may the right SA take it under another SPI (the SPI is authenticated).
        for bit in 0..32 {
            let spi = SPI ^ (1 << bit);
            let mut b = good.clone();
            b[..4].copy_from_slice(&spi.to_be_bytes());
            let want = if spi < 256 {
                OpenError::Truncated
            } else {
                OpenError::BadIcv
            };
            assert_eq!(rx.open(0, &mut b), Err(want), "SPI {spi:#x}");
        }
        assert!(rx.open(0, &mut good.clone()).is_ok());
    }
}

#[test]
fn reserved_spis_are_refused() {
    for spi in 0..=255 {
        assert_eq!(
            Sa::new(&params(spi, Cipher::AesGcm128, false), 1).err(),
            Some(SaError::ReservedSpi(spi))
        );
    }
    assert!(Sa::new(&params(256, Cipher::AesGcm128, false), 1).is_ok());
    let (tx, rx) = pair(Cipher::AesGcm256, true);
    let good = seal(&tx, &[0x45; 20], 4);
    for spi in 0..=255u32 {
        let mut b = good.clone();
        b[..4].copy_from_slice(&spi.to_be_bytes());
        assert!(EspPacket::new_checked(&b[..]).is_err(), "SPI {spi}");
        assert_eq!(rx.open(0, &mut b), Err(OpenError::Truncated), "SPI {spi}");
    }
    assert!(rx.open(0, &mut good.clone()).is_ok());
}

/// 100 000 copies of an accepted packet, arriving between the packets of a genuine
/// stream: every copy is refused before any decryption (the buffer is left as it came), and
/// the counters and the window count the genuine stream only.
fn replay_flood(cipher: Cipher, esn: bool) {
    let (tx, rx) = pair(cipher, esn);
    let first = seal(&tx, b"the one the attacker copies", 4);
    assert!(rx.open(0, &mut first.clone()).is_ok());
    let (mut packets, mut bytes) = (1u64, 27u64);
    let mut dup = first.clone();
    for i in 0..1000u32 {
        let payload = i.to_be_bytes().repeat(1 + i as usize % 7);
        let mut b = seal(&tx, &payload, 41);
        let o = rx.open(0, &mut b).unwrap();
        assert_eq!(&b[o.payload], &payload[..]);
        packets += 1;
        bytes += payload.len() as u64;
        for _ in 0..100 {
            assert_eq!(
                rx.open(0, &mut dup),
                Err(OpenError::Replay(ReplayError::Duplicate(1)))
            );
        }
        assert_eq!(dup, first, "a refused replay is not decrypted");
        assert_eq!(rx.traffic(), (packets, bytes));
    }
    assert_eq!(rx.replay_top(), 1001);
    // Once the genuine stream has moved the window past it, the copy is too old.
    for _ in 0..30 {
        seal(&tx, b"", 59);
    }
    let mut late = seal(&tx, b"", 59);
    rx.open(0, &mut late).unwrap();
    let want = if esn {
        // Left of the window with ESN reads as the next sub-space, whose ICV fails.
        OpenError::BadIcv
    } else {
        OpenError::Replay(ReplayError::TooOld(1))
    };
    assert_eq!(rx.open(0, &mut first.clone()), Err(want));
    assert_eq!(rx.traffic(), (packets + 1, bytes));
}

#[test]
fn a_replay_flood_is_refused_and_counts_nothing() {
    replay_flood(Cipher::AesGcm128, false);
    replay_flood(Cipher::ChaCha20Poly1305, true);
}

#[test]
fn replayed_numbers_inside_the_window_in_any_order() {
    let (tx, rx) = pair(Cipher::AesGcm256, false);
    let pkts: Vec<_> = (0..64).map(|i| seal(&tx, &[i as u8; 9], 4)).collect();
    // Deliver in a scrambled order, each packet three times in a row.
    for i in (0..64).map(|i| (i * 37) % 64) {
        assert!(rx.open(0, &mut pkts[i].clone()).is_ok(), "{i}");
        for _ in 0..2 {
            assert!(matches!(
                rx.open(0, &mut pkts[i].clone()),
                Err(OpenError::Replay(ReplayError::Duplicate(_)))
            ));
        }
    }
    assert_eq!(rx.traffic(), (64, 64 * 9));
}

#[test]
fn the_window_at_the_end_of_the_64_bit_space() {
    let mut w = ReplayWindow::new(1024, true);
    w.accept(u64::MAX - 2000).unwrap();
    // A slide by more than the window clears it at once; by less (895 bits), bit by bit and
    // word by word, up to the last word below 2^64.
    w.accept(u64::MAX - 900).unwrap();
    w.accept(u64::MAX - 5).unwrap();
    assert_eq!(
        w.accept(u64::MAX - 2000),
        Err(ReplayError::TooOld(u64::MAX - 2000))
    );
    assert_eq!(
        w.accept(u64::MAX - 900),
        Err(ReplayError::Duplicate(u64::MAX - 900))
    );
    w.accept(u64::MAX - 901).unwrap();
    w.accept(u64::MAX).unwrap();
    assert_eq!(w.accept(u64::MAX), Err(ReplayError::Duplicate(u64::MAX)));
    assert_eq!(w.top(), u64::MAX);
    // A low half past the top would need a high half beyond 2^32 - 1.
    assert_eq!(w.check(3), Err(ReplayError::TooOld(3)));
    assert_eq!(w.check(u32::MAX - 10), Ok(u64::MAX - 10));
}
