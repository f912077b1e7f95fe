//! `Sa::seal` and `Sa::open` alone, per packet, for every cipher at 64, 512 and 1,420 bytes
//! of payload (the inner IP packet of tunnel mode): the crypto floor under the pipeline's
//! ESP paths. `cargo bench -p esp --bench seal_open`; throughput in bytes of payload.
//!
//! * `seal`: seals the same buffer over and over (the payload is re-encrypted each time,
//!   which costs the same as fresh data); every seal takes the next sequence number.
//! * `open`: every iteration opens a distinct packet sealed by a twin SA (same SPI, key
//!   and salt) with the next sequence number, in criterion's untimed batch setup — opening
//!   one buffer twice would only time the replay check.
//!
//! `varouter bench esp` measures the same beside the pipeline and `openssl speed`.

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use esp::{Cipher, Sa, SaParams, HEAD_LEN};
use std::hint::black_box;

const SIZES: [usize; 3] = [64, 512, 1420];

fn sa(c: Cipher) -> Sa {
    let keymat = (0..c.key_len() as u8 + 4).map(|i| i ^ 0x5a).collect();
    let mut p = SaParams::new(0x1234, c, keymat);
    p.esn = true;
    Sa::new(&p, 1).expect("valid parameters")
}

fn packet(len: usize) -> Vec<u8> {
    let mut b = vec![0; HEAD_LEN + len + Sa::tail_len(len)];
    for (i, x) in b[HEAD_LEN..HEAD_LEN + len].iter_mut().enumerate() {
        *x = i as u8;
    }
    b
}

fn bench(c: &mut Criterion) {
    for cipher in Cipher::ALL {
        let mut g = c.benchmark_group(cipher.name());
        for len in SIZES {
            g.throughput(Throughput::Bytes(len as u64));
            let tx = sa(cipher);
            let mut buf = packet(len);
            g.bench_function(BenchmarkId::new("seal", len), |b| {
                b.iter(|| black_box(tx.seal(0, black_box(&mut buf), len, 4)).expect("seal"))
            });
            let (peer, rx) = (sa(cipher), sa(cipher));
            let plain = packet(len);
            // Each case must do what it claims: the packets open, and their payload is back.
            let mut p = plain.clone();
            peer.seal(0, &mut p, len, 4).expect("seal");
            let o = rx.open(0, &mut p).expect("open");
            assert_eq!(p[o.payload], plain[HEAD_LEN..HEAD_LEN + len]);
            g.bench_function(BenchmarkId::new("open", len), |b| {
                b.iter_batched_ref(
                    || {
                        let mut p = plain.clone();
                        peer.seal(0, &mut p, len, 4).expect("seal");
                        p
                    },
                    |p| {
                        let o = rx.open(0, p).expect("a fresh packet opens");
                        black_box(o.payload.len())
                    },
                    BatchSize::SmallInput,
                )
            });
        }
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
