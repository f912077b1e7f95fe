//! The access side of the virtual access router (seed 002): subscribers arriving on the
//! carrier's access ports (PPPoE, RFC 2516) are authenticated far enough to learn their
//! realm and handed to the ISP's VR, which tunnels them to the ISP's LNS (the LAC, RFC 2661
//! §4.4.5: proxy LCP and proxy authentication); the workers then relay their PPP frames
//! between the PPPoE session and the L2TP session without the control core.
//!
//! - [`config`]: one access VR's settings (the profile's `pppoe` section): PPPoE limits and
//!   the realm → VR table.
//! - [`manager`]: the sans-IO manager: discovery, the access side's PPP up to
//!   authentication, the realm decision, the call, the relay's life.
//!
//! The L2TP service ([`crate::l2tp::service`]) drives it: it owns the VRs' L2TP endpoints
//! that place the calls and binds both halves of each relay in the session table.
//!
//! With `relay.radius` ([`config::RelayRadius`]), the VR's RADIUS servers authorise each
//! subscriber first and may choose its tunnel with RFC 2868 attributes (see [`manager`]).
//!
//! Not yet: terminating PPPoE subscribers in a VR of this appliance (they are relayed to an
//! LNS), MS-CHAPv2 subscribers (an ICCN cannot proxy it), host-name tunnel endpoints from
//! RADIUS (no resolver), per-tunnel L2TP secrets from RADIUS (one secret per LAC VR).

pub mod config;
pub mod manager;
