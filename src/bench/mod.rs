//! Benchmarks and benchmark tools of the `varouter` command, on the same code the
//! appliance runs:
//!
//! | command | module | measures |
//! |---|---|---|
//! | `varouter bench fib` | [`fib`] | FIB build time, memory, lookup cycles, update rate |
//! | `varouter bench pipeline` | [`pipeline`] | the real pipeline through the appliance's run loop ([`controlcore::run`]) on a replay backend or DPDK |
//! | `varouter bench publish` | [`publish`] | incremental publication: session binds, neighbour resolutions, visibility delay, memory under churn |
//! | `varouter bench subscribers` | [`subscribers`] | PPP subscribers over L2TP: setup rate (local RADIUS responder, local users, or a real RADIUS server), control-plane memory per session |
//! | `varouter bench pppoe` | [`pppoe`] | PPPoE discovery: session setup rate (PADI → PADS) and engine memory per session |
//! | `varouter bench esp` | [`esp`] | ESP tunnel mode on one worker: encrypt + route and decrypt + route beside plain routing and `Sa::seal`/`open` alone, Gbps and cycles per packet, beside `openssl speed` |
//! | `varouter bench relay` | [`relay`] | PPP relays (PPPoE → L2TP, L2TP → PPPoE) and PPPoE termination beside plain routing, on one worker: Mpps, cycles per packet, the pipeline alone |
//! | `varouter bench aaa` | [`aaa`] | the mobile VPN's home AAA (the appliance's AAA thread) over TCP: AMR → lookup → HAR → HAA → AMA transactions/s and latency with the VPN database on SQLite and PostgreSQL, beside the database lookup alone |
//! | `varouter bench discovery` | [`discovery`] | VR discovery: convergence when a PE with 1,000 VRs joins 9 others (virtual clock and wall time), datagrams and bytes |
//! | `varouter bench vpnpeer` | [`vpnpeer`] | VPN peering channel: routes/s of the full exchange and of incremental updates over one channel through the real engines (in-memory network) |
//! | `varouter gen-routes` | [`gen_routes`] | (tool) a synthetic routing table with the real Internet's prefix-length mix |

pub mod aaa;
pub mod discovery;
pub mod esp;
pub mod fib;
pub mod gen_routes;
pub mod heap;
pub mod pipeline;
pub mod pppoe;
pub mod publish;
pub mod relay;
pub mod subscribers;
pub mod vpnpeer;

/// The median of `v` (the mean of the middle two for an even count); `v` is not empty.
pub(crate) fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}
