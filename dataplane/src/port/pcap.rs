//! The `pcap` backend: received packets come from a capture file, sent packets are written
//! to a capture file. It makes the pipeline testable byte for byte (golden tests) and lets
//! operators replay real traffic through a profile.
//!
//! Output timestamps are synthetic — packet *n* of a port is stamped *n* µs — so the same
//! input always gives byte-identical output files.

use super::PortQueue;
use crate::buffer::PacketBuf;
use crate::buffer::{BufPool, HeapBuf, HeapPool};
use pcap_file::pcap::{PcapPacket, PcapReader, PcapWriter};
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Errors opening capture files.
#[derive(Debug, thiserror::Error)]
pub enum PcapError {
    /// The file could not be opened or created.
    #[error("{path}: {source}")]
    Io {
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The file is not a readable pcap capture.
    #[error("{path}: not a pcap capture: {msg}")]
    Format {
        /// File.
        path: PathBuf,
        /// Cause.
        msg: String,
    },
}

/// A capture writer shared by the workers that send on one port.
pub type SharedWriter = Arc<Mutex<CaptureWriter>>;

/// Writes packets with deterministic timestamps.
pub struct CaptureWriter {
    w: Option<PcapWriter<BufWriter<File>>>,
    n: u64,
}

impl CaptureWriter {
    /// Creates (truncates) the capture file.
    pub fn create(path: &Path) -> Result<SharedWriter, PcapError> {
        let f = File::create(path).map_err(|source| PcapError::Io {
            path: path.into(),
            source,
        })?;
        let w = PcapWriter::new(BufWriter::new(f)).map_err(|e| PcapError::Format {
            path: path.into(),
            msg: e.to_string(),
        })?;
        Ok(Arc::new(Mutex::new(CaptureWriter { w: Some(w), n: 0 })))
    }

    fn write(&mut self, data: &[u8]) -> bool {
        let Some(w) = self.w.as_mut() else {
            return false;
        };
        self.n += 1;
        let p = PcapPacket::new(Duration::from_micros(self.n), data.len() as u32, data);
        w.write_packet(&p).is_ok()
    }

    /// Flushes and closes the file; later writes fail (counted as `tx_failed`).
    fn close(&mut self) {
        use std::io::Write;
        if let Some(w) = self.w.take() {
            let _ = w.into_writer().flush();
        }
    }
}

/// Reads every packet of a capture file (captures for replay are test-sized).
pub fn read_capture(path: &Path) -> Result<Vec<Vec<u8>>, PcapError> {
    let f = File::open(path).map_err(|source| PcapError::Io {
        path: path.into(),
        source,
    })?;
    let mut r = PcapReader::new(std::io::BufReader::new(f)).map_err(|e| PcapError::Format {
        path: path.into(),
        msg: e.to_string(),
    })?;
    let mut out = Vec::new();
    while let Some(p) = r.next_packet() {
        let p = p.map_err(|e| PcapError::Format {
            path: path.into(),
            msg: e.to_string(),
        })?;
        out.push(p.data.into_owned());
    }
    Ok(out)
}

/// One worker's queue on a `pcap` port.
pub struct PcapPort {
    rx: std::vec::IntoIter<Vec<u8>>,
    tx: Option<SharedWriter>,
    /// Packets in the capture too long for a buffer (skipped).
    pub rx_oversize: u64,
}

impl PcapPort {
    /// A queue that replays `rx` packets and writes sent packets to `tx`.
    pub fn new(rx: Vec<Vec<u8>>, tx: Option<SharedWriter>) -> Self {
        PcapPort {
            rx: rx.into_iter(),
            tx,
            rx_oversize: 0,
        }
    }
}

impl PortQueue<HeapBuf, HeapPool> for PcapPort {
    fn rx_burst(&mut self, pool: &mut HeapPool, out: &mut Vec<HeapBuf>, max: usize) -> usize {
        let mut n = 0;
        while n < max {
            let Some(pkt) = self.rx.as_slice().first() else {
                break;
            };
            let Some(mut b) = pool.alloc() else { break };
            let fits = b.set(pkt);
            self.rx.next();
            if fits {
                out.push(b);
                n += 1;
            } else {
                self.rx_oversize += 1;
                pool.free(b);
            }
        }
        n
    }

    fn tx_burst(&mut self, pool: &mut HeapPool, pkts: &mut Vec<HeapBuf>) -> usize {
        let mut failed = 0;
        match &self.tx {
            Some(w) => {
                let mut w = w.lock().unwrap_or_else(|e| e.into_inner());
                for b in pkts.drain(..) {
                    if !w.write(b.data()) {
                        failed += 1;
                    }
                    pool.free(b);
                }
            }
            None => {
                failed = pkts.len();
                for b in pkts.drain(..) {
                    pool.free(b);
                }
            }
        }
        failed
    }

    fn rx_finished(&self) -> bool {
        self.rx.as_slice().is_empty()
    }

    fn finish(&mut self) {
        if let Some(w) = &self.tx {
            w.lock().unwrap_or_else(|e| e.into_inner()).close();
        }
    }
}
