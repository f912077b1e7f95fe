//! The worker loop: poll every port queue, run each burst through the pipeline, buffer
//! transmissions per port, flush, repeat. One worker per core, run to completion.
//!
//! Each iteration loads the current [`ForwardingState`] once (a wait-free atomic load); the
//! version stays alive until the iteration ends, which is the worker's quiescent point.

use crate::buffer::{BufPool, PacketBuf};
use crate::counters::{Drop, WorkerCounters};
use crate::pipeline::vector::BurstPath;
use crate::pipeline::{PortInfo, Verdict};
use crate::port::{PortQueue, BURST};
use crate::punt::{Inject, InjectRing, PuntRing, Punted};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use vr::{ForwardingState, PortId, TableHandle};

/// Empty polls after which an idle worker sleeps between polls.
const IDLE_SLEEP_AFTER: u32 = 1 << 16;

/// How a worker decides to stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopWhen {
    /// Only when the stop flag is raised.
    Flag,
    /// Also when every receive source is finished and the worker has nothing in flight
    /// (capture replays, counted generators).
    InputsFinished,
}

/// Everything one worker owns.
pub struct Worker<B: PacketBuf, P: BufPool<B>> {
    /// Worker index.
    pub id: usize,
    pool: P,
    queues: Vec<Box<dyn PortQueue<B, P>>>,
    tx: Vec<Vec<B>>,
    rx: Vec<B>,
    path: BurstPath,
    ports: Arc<[PortInfo]>,
    tables: TableHandle<ForwardingState>,
    counters: Arc<WorkerCounters>,
    punt: Arc<PuntRing<B>>,
    inject: Option<Arc<InjectRing<B>>>,
}

impl<B: PacketBuf, P: BufPool<B>> Worker<B, P> {
    /// A worker with one queue per port (`queues[i]` serves port `i`).
    pub fn new(
        id: usize,
        pool: P,
        queues: Vec<Box<dyn PortQueue<B, P>>>,
        ports: Arc<[PortInfo]>,
        tables: TableHandle<ForwardingState>,
        counters: Arc<WorkerCounters>,
        punt: Arc<PuntRing<B>>,
    ) -> Self {
        let tx = (0..queues.len())
            .map(|_| Vec::with_capacity(BURST))
            .collect();
        Worker {
            id,
            pool,
            queues,
            tx,
            rx: Vec::with_capacity(BURST),
            path: BurstPath::new(),
            ports,
            tables,
            counters,
            punt,
            inject: None,
        }
    }

    /// Adds the control core's inject ring: every iteration the worker moves up to a burst
    /// of its frames into the per-port transmit buffers (and recycles returned buffers).
    pub fn with_inject(mut self, ring: Arc<InjectRing<B>>) -> Self {
        self.inject = Some(ring);
        self
    }

    /// Drains up to one burst from the inject ring. Returns the frames queued for sending.
    fn drain_inject(&mut self) -> usize {
        let Some(ring) = self.inject.as_ref() else {
            return 0;
        };
        let mut sent = 0;
        for _ in 0..BURST {
            match ring.pop() {
                None => break,
                Some(Inject::Recycle(buf)) => self.pool.free(buf),
                Some(Inject::Tx { port, buf }) => {
                    let o = usize::from(port.0);
                    if o >= self.tx.len() {
                        self.counters.count_drop(Drop::TableInconsistent);
                        self.pool.free(buf);
                        continue;
                    }
                    self.tx[o].push(buf);
                    sent += 1;
                    if self.tx[o].len() >= BURST {
                        flush_port(
                            &mut self.queues,
                            &mut self.tx,
                            &mut self.pool,
                            &self.counters,
                            o,
                        );
                    }
                }
            }
        }
        sent
    }

    /// One pass over every port and the inject ring. Returns the packets received plus the
    /// frames injected by the control core.
    pub fn poll_once(&mut self) -> usize {
        let st = self.tables.load();
        let mut total = 0;
        for pi in 0..self.queues.len() {
            let n = self.queues[pi].rx_burst(&mut self.pool, &mut self.rx, BURST);
            if n == 0 {
                continue;
            }
            total += n;
            self.counters.port_rx.bump(pi, n as u64);
            self.counters.bursts.bump(0, 1);
            let in_port = PortId(pi as u16);
            let mut port_drops = 0;
            while !self.rx.is_empty() {
                // `rx_burst` returns at most BURST packets; a longer batch is split.
                let m = self.rx.len().min(BURST);
                let verdicts =
                    self.path
                        .run(&st, &self.ports, in_port, &mut self.rx[..m], &self.counters);
                for (buf, v) in self.rx.drain(..m).zip(verdicts.iter()) {
                    match *v {
                        Verdict::Tx(out) => {
                            let o = usize::from(out.0);
                            // Port ids come from the tables; a port this worker has no
                            // queue for is a table bug, counted, never a panic.
                            let Some(q) = self.tx.get_mut(o) else {
                                self.counters.count_drop(Drop::TableInconsistent);
                                port_drops += 1;
                                self.pool.free(buf);
                                continue;
                            };
                            q.push(buf);
                            if q.len() >= BURST {
                                flush_port(
                                    &mut self.queues,
                                    &mut self.tx,
                                    &mut self.pool,
                                    &self.counters,
                                    o,
                                );
                            }
                        }
                        Verdict::Punt(to) => {
                            self.counters.count_punt(to.reason);
                            let p = Punted {
                                to,
                                port: in_port,
                                worker: self.id as u16,
                                buf,
                            };
                            if let Err(p) = self.punt.push(p) {
                                self.counters.count_drop(Drop::PuntRingFull);
                                port_drops += 1;
                                self.pool.free(p.buf);
                            }
                        }
                        Verdict::Drop(why) => {
                            self.counters.count_drop(why);
                            port_drops += 1;
                            self.pool.free(buf);
                        }
                    }
                }
            }
            if port_drops > 0 {
                self.counters.port_drop.bump(pi, port_drops);
            }
        }
        total += self.drain_inject();
        for o in 0..self.tx.len() {
            if !self.tx[o].is_empty() {
                flush_port(
                    &mut self.queues,
                    &mut self.tx,
                    &mut self.pool,
                    &self.counters,
                    o,
                );
            }
        }
        total
    }

    /// Runs until `stop` is raised (or, with [`StopWhen::InputsFinished`], until the inputs
    /// are exhausted), then finishes every queue.
    pub fn run(&mut self, stop: &AtomicBool, when: StopWhen) {
        let mut idle = 0u32;
        while !stop.load(Ordering::Relaxed) {
            let n = self.poll_once();
            if n == 0 {
                if when == StopWhen::InputsFinished && self.queues.iter().all(|q| q.rx_finished()) {
                    break;
                }
                idle = idle.saturating_add(1);
                if idle > IDLE_SLEEP_AFTER {
                    // Idle for long (milliseconds): back off so an idle appliance does not
                    // burn its cores (the lab runs three routers on two CPUs). Costs at most
                    // one sleep of latency when traffic resumes.
                    std::thread::sleep(std::time::Duration::from_micros(50));
                } else if idle > 1024 {
                    // Nothing to do for a while: yield the core instead of burning it
                    // (a DPDK worker would keep polling; the mem/pcap backends need not).
                    std::thread::yield_now();
                }
            } else {
                idle = 0;
            }
        }
        for q in &mut self.queues {
            q.finish();
        }
    }

    /// The worker's counters.
    pub fn counters(&self) -> &Arc<WorkerCounters> {
        &self.counters
    }
}

fn flush_port<B: PacketBuf, P: BufPool<B>>(
    queues: &mut [Box<dyn PortQueue<B, P>>],
    tx: &mut [Vec<B>],
    pool: &mut P,
    counters: &WorkerCounters,
    o: usize,
) {
    let n = tx[o].len() as u64;
    let failed = queues[o].tx_burst(pool, &mut tx[o]) as u64;
    counters.port_tx.bump(o, n - failed);
    for _ in 0..failed {
        counters.count_drop(Drop::TxFailed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::buffer::{HeapBuf, HeapPool};
    use crate::punt::PUNT_RING_SIZE;
    use vr::{
        IfBinding, IfKey, IpPrefix, LabelPush, NextHop, Publisher, RouteSource, StateWriter,
        VirtualRouter, VpnId, VrId,
    };

    /// One queue that yields `frames` once and keeps what is sent.
    struct Once {
        frames: Vec<Vec<u8>>,
        sent: usize,
    }

    impl PortQueue<HeapBuf, HeapPool> for Once {
        fn rx_burst(&mut self, _: &mut HeapPool, out: &mut Vec<HeapBuf>, max: usize) -> usize {
            let n = self.frames.len().min(max);
            for f in self.frames.drain(..n) {
                out.push(HeapBuf::from_slice(&f).unwrap());
            }
            n
        }
        fn tx_burst(&mut self, pool: &mut HeapPool, pkts: &mut Vec<HeapBuf>) -> usize {
            self.sent += pkts.len();
            for b in pkts.drain(..) {
                pool.free(b);
            }
            0
        }
        fn rx_finished(&self) -> bool {
            self.frames.is_empty()
        }
    }

    /// A route to a port the worker has no queue for (the state knows two ports, the worker
    /// one) is a counted `table_inconsistent` drop, not an out-of-bounds index.
    #[test]
    fn tx_to_a_port_without_a_queue_is_a_counted_drop() {
        let mac = [2, 0, 0, 0, 0, 1];
        let mut w = StateWriter::new(vec![mac, mac], 1);
        w.add_vr(VirtualRouter::new(
            VrId(1),
            "a",
            VpnId::new(1, 1).unwrap(),
            "t",
        ))
        .unwrap();
        w.bind_interface(IfKey::Port(PortId(0)), IfBinding::Vr(VrId(1)))
            .unwrap();
        let p: IpPrefix = "10.2.0.0/16".parse().unwrap();
        w.set_route(
            VrId(1),
            p,
            RouteSource::Static,
            NextHop::Forward {
                port: PortId(1),
                vlan: None,
                src_mac: mac,
                dst_mac: [2, 0, 0, 0, 0, 2],
                push: LabelPush::EMPTY,
            },
        )
        .unwrap();
        let publisher = Publisher::new(w.commit().unwrap());
        let mut f = mac.to_vec();
        f.extend([2, 0, 0, 0, 0, 9, 0x08, 0x00]);
        let mut ip = vec![
            0x45, 0, 0, 20, 0, 0, 0, 0, 64, 17, 0, 0, 10, 1, 0, 1, 10, 2, 0, 1,
        ];
        let sum = !wire::checksum::data(&ip);
        ip[10..12].copy_from_slice(&sum.to_be_bytes());
        f.extend(ip);
        let ports: Arc<[PortInfo]> = vec![PortInfo { mac, mtu: 1500 }; 2].into();
        let counters = Arc::new(WorkerCounters::new(0, 2));
        let queue = Once {
            frames: vec![f],
            sent: 0,
        };
        let mut worker = Worker::new(
            0,
            HeapPool::new(4, 16),
            vec![Box::new(queue)],
            ports,
            publisher.handle(),
            counters.clone(),
            Arc::new(PuntRing::new(PUNT_RING_SIZE)),
        );
        assert_eq!(worker.poll_once(), 1);
        assert_eq!(counters.drops(Drop::TableInconsistent), 1);
        assert_eq!(counters.port_drop.get(0), 1);
    }
}
