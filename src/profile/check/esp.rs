//! The `esp` section of a VR and routes into its SAs (docs/esp.md).

use super::{Checker, Profile};
use crate::config::{EspSaCfg, VrCfg};
use crate::profile::{EspSa, S};
use ::esp::{Cipher, Lifetime, SaParams};
use std::collections::HashMap;
use std::net::IpAddr;
use std::str::FromStr;
use std::time::Duration;

/// The SPI of VR `vr_name`'s outbound SA named `name` (for a route's `esp: NAME`), or an
/// error; `sa` finds the VR's SA of a name as `(outbound, spi)`.
pub(super) fn route_target(
    c: &mut Checker,
    vr_name: &str,
    name: &S<String>,
    sa: &super::EspSaLookup,
) -> Option<u32> {
    match sa(&name.value) {
        Some((true, spi)) => Some(spi),
        Some((false, _)) => {
            c.err(
                name.referenced,
                format!(
                    "ESP SA `{}` of VR `{}` is inbound; routes send into outbound SAs (`direction: out`)",
                    name.value, vr_name
                ),
            );
            None
        }
        None => {
            c.err(
                name.referenced,
                format!(
                    "VR `{}` has no ESP SA named `{}` (its `esp.sas`)",
                    vr_name, name.value
                ),
            );
            None
        }
    }
}

fn dscp(c: &mut Checker, d: &Option<S<u8>>) -> Option<u8> {
    let d = d.as_ref()?;
    if d.value > 63 {
        c.err(
            d.referenced,
            format!("DSCP {} is out of range; expected 0..=63", d.value),
        );
        return None;
    }
    Some(d.value)
}

/// An SA's `sources` (outbound only; at least one prefix, host bits clear).
fn sources(c: &mut Checker, sa: &EspSa, inbound: bool) -> Option<Vec<crate::config::IpPrefix>> {
    let list = sa.sources.as_ref()?;
    if inbound {
        let at = list.first().map_or(sa.name.referenced, |s| s.referenced);
        c.err(
            at,
            "`sources` selects what enters an outbound SA; this SA is inbound",
        );
        return None;
    }
    if list.is_empty() {
        c.err(
            sa.name.referenced,
            format!(
                "ESP SA `{}`: `sources` is empty, so nothing could enter the SA; leave it out to take any source",
                sa.name.value
            ),
        );
        return None;
    }
    let mut out = Vec::new();
    for s in list {
        match super::parse_prefix(&s.value) {
            Ok(p) => out.push(p),
            Err(e) => c.err(s.referenced, format!("`sources`: {e}")),
        }
    }
    (out.len() == list.len()).then_some(out)
}

fn hex(s: &str) -> Option<Vec<u8>> {
    let s = s.strip_prefix("0x").unwrap_or(s);
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Checks every VR's `esp` section (after all VRs are known: the outer VR may come later in
/// the profile) and stores the SAs in the VRs' configs.
pub(super) fn resolve(c: &mut Checker, p: &Profile, vrs: &mut [VrCfg]) {
    let by_name: HashMap<String, (u32, Vec<IpAddr>)> = vrs
        .iter()
        .map(|v| {
            let addrs = v
                .interfaces
                .iter()
                .flat_map(|i| i.addresses.iter().map(|a| a.addr))
                .collect();
            (v.name.clone(), (v.id, addrs))
        })
        .collect();
    // (inbound?, the VR that keys it, SPI) → where first given. An inbound SA is keyed by
    // its outer VR (where its ESP arrives), an outbound one by its own VR (whose routes
    // name it), as the state writer keys them: two VRs may hold one SPI.
    let mut spis: HashMap<(bool, u32, u32), String> = HashMap::new();
    for pv in &p.virtual_routers {
        let Some(e) = &pv.esp else { continue };
        let outer = match &e.outer_vr {
            Some(n) => match by_name.get(&n.value) {
                Some(o) => Some(o.clone()),
                None => {
                    c.err(n.referenced, format!("VR `{}` is not defined", n.value));
                    None
                }
            },
            None => by_name.get(&pv.name.value).cloned(),
        };
        let outer_name = e
            .outer_vr
            .as_ref()
            .map_or(pv.name.value.clone(), |n| n.value.clone());
        let marking = e.marking.as_ref();
        let m_all = marking.and_then(|m| dscp(c, &m.dscp));
        let m_up = marking.and_then(|m| dscp(c, &m.up));
        let m_down = marking.and_then(|m| dscp(c, &m.down));
        let mut names: HashMap<&str, ()> = HashMap::new();
        let mut out = Vec::new();
        for sa in &e.sas {
            if names.insert(sa.name.value.as_str(), ()).is_some() {
                c.err(
                    sa.name.referenced,
                    format!(
                        "ESP SA `{}` is given twice in VR `{}`",
                        sa.name.value, pv.name.value
                    ),
                );
                continue;
            }
            let Some((outer_id, outer_addrs)) = &outer else {
                continue;
            };
            if let Some(cfg) = check_sa(c, sa, *outer_id, outer_addrs, &outer_name) {
                let key_vr = if cfg.inbound {
                    *outer_id
                } else {
                    by_name.get(&pv.name.value).map_or(0, |v| v.0)
                };
                let key = (cfg.inbound, key_vr, cfg.params.spi);
                let here = format!("`{}` of VR `{}`", sa.name.value, pv.name.value);
                if let Some(first) = spis.get(&key) {
                    c.err(
                        sa.spi.referenced,
                        format!(
                            "{} SPI {:#x} is already used by ESP SA {first}; {}",
                            if cfg.inbound { "inbound" } else { "outbound" },
                            cfg.params.spi,
                            if cfg.inbound {
                                format!("inbound SPIs are unique per outer VR (the ESP of both would arrive in VR `{outer_name}`)")
                            } else {
                                format!("outbound SPIs are unique per VR (VR `{}`'s routes name them)", pv.name.value)
                            }
                        ),
                    );
                    continue;
                }
                spis.insert(key, here);
                let class = match &sa.class {
                    None => m_all,
                    Some(cl) => match cl.value.as_str() {
                        "up" | "down" => {
                            let d = if cl.value == "up" { m_up } else { m_down };
                            if d.is_none() {
                                c.err(cl.referenced, format!("class `{}` has no DSCP: add `marking: {{ {}: DSCP }}` to the VR's `esp`", cl.value, cl.value));
                            }
                            d
                        }
                        other => {
                            c.err(
                                cl.referenced,
                                format!("unknown class `{other}`; expected `up` or `down`"),
                            );
                            None
                        }
                    },
                };
                let own = dscp(c, &sa.dscp);
                if cfg.inbound && (sa.dscp.is_some() || sa.class.is_some()) {
                    let at = sa
                        .dscp
                        .as_ref()
                        .map(|d| d.referenced)
                        .or(sa.class.as_ref().map(|d| d.referenced))
                        .expect("one is given");
                    c.err(
                        at,
                        "`dscp` and `class` mark outbound traffic; this SA is inbound",
                    );
                }
                let sources = sources(c, sa, cfg.inbound);
                out.push(EspSaCfg {
                    dscp: if cfg.inbound { None } else { own.or(class) },
                    sources,
                    ..cfg
                });
            }
        }
        if let Some(v) = vrs.iter_mut().find(|v| v.id == pv.id.value) {
            v.esp = out;
        }
    }
}

fn check_sa(
    c: &mut Checker,
    sa: &EspSa,
    outer_vr: u32,
    outer_addrs: &[IpAddr],
    outer_name: &str,
) -> Option<EspSaCfg> {
    let mut ok = true;
    let inbound = match sa.direction.value.as_str() {
        "in" => true,
        "out" => false,
        other => {
            c.err(
                sa.direction.referenced,
                format!("unknown direction `{other}`; expected `in` or `out`"),
            );
            return None;
        }
    };
    if sa.spi.value < 256 {
        c.err(
            sa.spi.referenced,
            format!(
                "SPI {} is reserved; SPIs start at 256 (RFC 4303 §2.1)",
                sa.spi.value
            ),
        );
        ok = false;
    }
    let Some(cipher) = Cipher::from_name(&sa.cipher.value) else {
        let names: Vec<&str> = Cipher::ALL.iter().map(|c| c.name()).collect();
        c.err(
            sa.cipher.referenced,
            format!(
                "unknown cipher `{}`; expected one of {}",
                sa.cipher.value,
                names.join(", ")
            ),
        );
        return None;
    };
    let need = cipher.key_len() + ::esp::sa::SALT_LEN;
    let keymat = match hex(&sa.key.value) {
        Some(k) if k.len() == need => Some(k),
        Some(k) => {
            c.err(
                sa.key.referenced,
                format!(
                    "{} needs {need} bytes of key and salt ({} hex digits: the {}-byte key then the 4-byte salt), {} given",
                    cipher.name(),
                    2 * need,
                    cipher.key_len(),
                    k.len()
                ),
            );
            None
        }
        None => {
            c.err(
                sa.key.referenced,
                "the key is not hexadecimal (an even number of 0-9a-f digits)",
            );
            None
        }
    };
    let addr = |c: &mut Checker, s: &S<String>, what: &str| match IpAddr::from_str(&s.value) {
        Ok(a) => Some(a),
        Err(_) => {
            c.err(
                s.referenced,
                format!("{what} `{}` is not an IP address", s.value),
            );
            None
        }
    };
    let local = addr(c, &sa.local, "local address");
    let remote = addr(c, &sa.remote, "remote address");
    if let (Some(l), Some(r)) = (local, remote) {
        if l.is_ipv4() != r.is_ipv4() {
            c.err(
                sa.remote.referenced,
                format!("remote {r} is not of the same address family as local {l}"),
            );
            ok = false;
        }
        if !outer_addrs.contains(&l) {
            c.err(
                sa.local.referenced,
                format!("local address {l} is not an address of VR `{outer_name}`, which carries the tunnel's outer packets"),
            );
            ok = false;
        }
    }
    let window = match &sa.replay_window {
        Some(w) if !(64..=65_536).contains(&w.value) => {
            c.err(
                w.referenced,
                format!(
                    "replay window {} is out of range; expected 64..=65536",
                    w.value
                ),
            );
            ok = false;
            0
        }
        Some(w) => w.value,
        None => ::esp::replay::DEFAULT_WINDOW,
    };
    let mut lifetime = Lifetime::default();
    if let Some(l) = &sa.lifetime {
        let v = |x: &Option<S<u64>>| x.as_ref().map(|x| x.value);
        lifetime = Lifetime {
            soft_bytes: v(&l.soft_bytes),
            hard_bytes: v(&l.hard_bytes),
            soft_time: v(&l.soft_seconds).map(Duration::from_secs),
            hard_time: v(&l.hard_seconds).map(Duration::from_secs),
        };
        for (soft, hard, what) in [
            (&l.soft_bytes, &l.hard_bytes, "bytes"),
            (&l.soft_seconds, &l.hard_seconds, "seconds"),
        ] {
            if let (Some(s), Some(h)) = (soft, hard) {
                if s.value > h.value {
                    c.err(
                        s.referenced,
                        format!("soft {what} {} is above hard {what} {}", s.value, h.value),
                    );
                    ok = false;
                }
            }
        }
    }
    let udp = sa.udp.as_ref().map(|u| {
        (
            u.local_port.as_ref().map_or(4500, |p| p.value),
            u.remote_port.as_ref().map_or(4500, |p| p.value),
        )
    });
    if let Some((0, _) | (_, 0)) = udp {
        c.err(sa.name.referenced, "UDP encapsulation ports must not be 0");
        ok = false;
    }
    let (Some(keymat), Some(local), Some(remote), true) = (keymat, local, remote, ok) else {
        return None;
    };
    let params = SaParams {
        spi: sa.spi.value,
        cipher,
        keymat,
        esn: sa.esn.as_ref().is_some_and(|e| e.value),
        replay_window: window,
        lifetime,
    };
    Some(EspSaCfg {
        name: sa.name.value.clone(),
        inbound,
        params,
        outer_vr,
        local,
        remote,
        udp,
        dscp: None,
        sources: None,
    })
}
