//! Fuzzes the Mobile IPv4 agents: an HA, an FA and a PCN with their associations; a mobile
//! node registered directly at the HA (MN-HA) so that there is state to attack; then the
//! input drives time steps and datagrams to each agent — garbage, or copies of what the
//! agents sent with bytes flipped. Nothing may panic, the tables stay within their limits,
//! no binding outlives the longest lifetime, and every tunnel taken down was up.
#![no_main]

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use controlplane::mip::fa::{Fa, FaConfig};
use controlplane::mip::ha::{Ha, HaConfig};
use controlplane::mip::pcn::{Pcn, PcnConfig};
use controlplane::mip::wire::ext::kind;
use controlplane::mip::wire::ntp::NtpClock;
use controlplane::mip::wire::registration::Request;
use controlplane::mip::{auth, Output, Sa, TunnelEvent, TunnelSpec};
use libfuzzer_sys::fuzz_target;
use rand::rngs::StdRng;
use rand::SeedableRng;

const HA: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 10);
const FA: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const PCN: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 9);
const MN: Ipv4Addr = Ipv4Addr::new(10, 200, 0, 5);

fn sa() -> Sa {
    Sa { spi: 300, key: b"fuzz key".to_vec() }
}

struct World {
    ha: Ha,
    fa: Fa<StdRng>,
    pcn: Pcn,
    sent: Vec<Vec<u8>>,
    up: Vec<TunnelSpec>,
}

impl World {
    fn collect(&mut self, o: Output) {
        match o {
            Output::Send { bytes, .. } => {
                if self.sent.len() < 64 {
                    self.sent.push(bytes);
                }
            }
            Output::Tunnel(TunnelEvent::Up(t)) => self.up.push(t),
            Output::Tunnel(TunnelEvent::Down(t)) => {
                let k = self.up.iter().position(|u| *u == t).expect("a tunnel taken down was up");
                self.up.swap_remove(k);
            }
            Output::Aaa(_) | Output::Replay { .. } => {}
        }
    }
    fn drain(&mut self) {
        while let Some(o) = self.ha.poll_output() {
            self.collect(o);
        }
        while let Some(o) = self.fa.poll_output() {
            self.collect(o);
        }
        while let Some(o) = self.pcn.poll_output() {
            self.collect(o);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let t0 = Instant::now();
    let clock = NtpClock { epoch: t0, epoch_ntp: 3_973_795_200u64 << 32 };
    let mut hc = HaConfig::new(HA, "ha", "home", clock);
    hc.max_bindings = 4;
    hc.max_lifetime = 100;
    let mut ha = Ha::new(hc);
    ha.set_mn_ha(MN, sa());
    ha.set_pcn(PCN, sa());
    let mut fc = FaConfig::new(FA, "fa", "visited", clock);
    fc.max_visitors = 4;
    let mut fa = Fa::new(fc, StdRng::seed_from_u64(1));
    fa.set_fa_peer(Ipv4Addr::new(192, 0, 2, 2), sa());
    let mut pcn = Pcn::new(PcnConfig::new(PCN, clock));
    pcn.set_peer(HA, sa());
    let mut w = World { ha, fa, pcn, sent: Vec::new(), up: Vec::new() };
    // A registration straight at the HA with MN-HA.
    let req = Request {
        flags: 0,
        lifetime: 50,
        home_address: MN,
        home_agent: HA,
        care_of_address: FA,
        identification: clock.at(t0),
        extensions: Vec::new(),
    };
    let b = auth::seal(req.fixed(), &[auth::auth_placeholder(kind::MN_HA_AUTH, 300)], 0, |c| {
        auth::hmac_md5(b"fuzz key", c)
    })
    .expect("seals");
    w.sent.push(b.clone());
    w.ha.handle_datagram(t0, SocketAddrV4::new(FA, 434), &b);
    let adv = w.fa.advertisement(t0);
    w.sent.push(adv);
    w.drain();

    let mut now = t0;
    let mut i = 0;
    while i + 2 <= data.len() {
        let op = data[i];
        let arg = data[i + 1] as usize;
        i += 2;
        match op % 6 {
            0 => {
                now += Duration::from_millis(arg as u64 * 50);
                w.ha.handle_timeout(now);
                w.fa.handle_timeout(now);
                w.pcn.handle_timeout(now);
            }
            1 | 2 | 3 => {
                // A copy of something sent, one byte flipped, or raw input.
                let len = (arg % 64).min(data.len() - i);
                let bytes = if arg % 2 == 0 && !w.sent.is_empty() {
                    let mut b = w.sent[arg % w.sent.len()].clone();
                    if !b.is_empty() {
                        let k = data.get(i).copied().unwrap_or(0) as usize % b.len();
                        b[k] ^= data.get(i + 1).copied().unwrap_or(1) | 1;
                    }
                    b
                } else {
                    let b = data[i..i + len].to_vec();
                    i += len;
                    b
                };
                let from = SocketAddrV4::new(
                    [FA, HA, PCN, MN, Ipv4Addr::new(192, 0, 2, 2)][arg % 5],
                    434,
                );
                match op % 6 {
                    1 => w.ha.handle_datagram(now, from, &bytes),
                    2 => w.fa.handle_datagram(now, from, &bytes),
                    _ => w.pcn.handle_datagram(now, from, &bytes),
                }
            }
            4 => {
                let adv = w.fa.advertisement(now);
                if w.sent.len() < 64 {
                    w.sent.push(adv);
                }
            }
            _ => {
                // A HAR whose Registration Request is the next bytes.
                let len = (arg % 96).min(data.len() - i);
                let reg = data[i..i + len].to_vec();
                i += len;
                let har = controlplane::diameter::mip4::Har {
                    session_id: "s".into(),
                    route: Default::default(),
                    authorization_lifetime: 60,
                    auth_session_state: 1,
                    reg_request: reg,
                    user_name: "u@home".into(),
                    feature_vector: 0,
                    ha_to_fa_msa: None,
                    msa_lifetime: None,
                    originating_foreign_aaa: None,
                    mn_address: None,
                    ha_address: None,
                    vpn: None,
                    old_fa: None,
                };
                w.ha.handle_diameter_request(now, 1, har.to_message());
            }
        }
        w.drain();
        assert!(w.ha.binding_count() <= 4);
        for (_, b) in w.ha.bindings() {
            assert!(b.expires <= now + Duration::from_secs(100));
        }
        assert!(w.fa.visitors().count() <= 4);
    }
});
