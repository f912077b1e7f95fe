//! TTL processing for MPLS, uniform model (RFC 3032 §2.4, RFC 3443 §3.1).
//!
//! In the **uniform model** (the only one implemented) an LSP looks like a chain of ordinary
//! router hops: every router on it decrements the TTL exactly once, whether it forwards by
//! IP or by label, and the TTL moves between the IP header and the label stack when labels
//! are pushed and popped. `traceroute` through the VPN therefore shows the label switches.
//!
//! The functions here are pure; they return the TTL to *write* and leave the writing (and
//! the IPv4 checksum update) to the data plane. The rule "one decrement per router" is kept by
//! doing the decrement in exactly one place per router:
//!
//! | router role | data plane steps |
//! |---|---|
//! | ingress LER (IP in, labels out) | IP forwarding decrements the IP TTL with [`decrement`] (drop on `None`, as RFC 1812 §5.3.1) and rewrites the IP header; every pushed label gets [`on_push`] of that *already decremented* IP TTL |
//! | LSR, swap | [`on_swap`] of the incoming label TTL; drop on `None` |
//! | LSR, swap and push more labels | the swapped label gets [`on_swap`]; each pushed label gets [`on_push_over_label`] of that result |
//! | egress LER, pop to a VR ([`crate::LabelOp::PopToVr`]) | write [`on_pop`]`(label_ttl, ip_ttl)` into the IP header, then the VR's IP forwarding decrements it as for any IP packet — the pop itself does **not** decrement, so the egress router counts once |
//! | pop and forward without IP lookup ([`crate::LabelOp::PopAndForward`], PHP) | [`on_pop_and_forward`]`(label_ttl, inner_ttl)` (decrements, drop on `None`) and write the result into the next header: the next label if the stack was not at the bottom, else the IP header |
//!
//! [`on_pop`] writes `min(label TTL, inner TTL)`. RFC 3443 §3.1 copies the label TTL to the
//! inner header; taking the minimum gives the same value whenever the ingress followed the
//! uniform model (the label TTL can then only be lower), and never raises the TTL of a packet
//! whose ingress did not propagate it, so a forwarding loop still ends.
//!
//! Not implemented yet: the pipe and short-pipe models (RFC 3443 §3.2, §3.3), where the
//! LSP counts as one hop and the inner TTL is left untouched at egress. A label switch
//! whose swap finds the TTL expired counts the drop and punts the packet; the control core
//! answers with ICMP time exceeded sent along the LSP (RFC 3032 §2.3.2). Expiry on
//! pop-and-forward (PHP) is only dropped, with a counter.

/// TTL a router writes when it forwards a packet it received with `ttl`, or `None` when the
/// packet must be dropped as expired (received TTL 0 or 1: the result would be 0).
#[inline]
pub const fn decrement(ttl: u8) -> Option<u8> {
    if ttl <= 1 {
        None
    } else {
        Some(ttl - 1)
    }
}

/// Ingress LER: TTL for a label pushed onto an IP packet, given the IP TTL **after** the IP
/// forwarding step decremented it (uniform model: copied unchanged).
#[inline]
pub const fn on_push(decremented_ip_ttl: u8) -> u8 {
    decremented_ip_ttl
}

/// TTL for a label pushed on top of an existing label whose TTL was already processed by
/// this router (e.g. the result of [`on_swap`]): copied unchanged.
#[inline]
pub const fn on_push_over_label(processed_label_ttl: u8) -> u8 {
    processed_label_ttl
}

/// LSR swap: TTL of the outgoing label, or `None` if the packet expired and must be dropped.
#[inline]
pub const fn on_swap(incoming_label_ttl: u8) -> Option<u8> {
    decrement(incoming_label_ttl)
}

/// Egress pop where this router then forwards the packet by its inner header (pop to a VR,
/// then IP lookup): the TTL to write into the inner header *before* that forwarding step
/// decrements it. No decrement here. See the module docs for why this is a minimum.
#[inline]
pub const fn on_pop(popped_label_ttl: u8, inner_ttl: u8) -> u8 {
    if popped_label_ttl < inner_ttl {
        popped_label_ttl
    } else {
        inner_ttl
    }
}

/// Pop and forward without a lookup on the inner header (penultimate-hop pop, or pop to a
/// fixed next hop): this router's one decrement happens here. Returns the TTL to write into
/// the inner header (the new top label or the IP header), or `None` if expired.
#[inline]
pub const fn on_pop_and_forward(popped_label_ttl: u8, inner_ttl: u8) -> Option<u8> {
    match decrement(popped_label_ttl) {
        Some(t) => Some(on_pop(t, inner_ttl)),
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decrement_expires_at_one() {
        assert_eq!(decrement(0), None);
        assert_eq!(decrement(1), None);
        assert_eq!(decrement(2), Some(1));
        assert_eq!(decrement(255), Some(254));
    }

    /// A packet with IP TTL 64 crosses ingress LER → 2 LSRs → egress LER (pop to VR, then IP
    /// forward): 4 routers, so it leaves with TTL 60, exactly as over 4 IP routers.
    #[test]
    fn uniform_path_counts_every_router_once() {
        let ip_after_ingress = decrement(64).unwrap();
        let l = on_push(ip_after_ingress);
        let l = on_swap(l).unwrap();
        let l = on_swap(l).unwrap();
        let ip = on_pop(l, ip_after_ingress);
        let out = decrement(ip).unwrap();
        assert_eq!(out, 60);
    }

    /// Same path with penultimate-hop popping: the second LSR pops and forwards, the egress
    /// LER receives plain IP and forwards it.
    #[test]
    fn php_path_counts_every_router_once() {
        let ip0 = decrement(64).unwrap();
        let l = on_swap(on_push(ip0)).unwrap();
        let ip = on_pop_and_forward(l, ip0).unwrap();
        assert_eq!(decrement(ip), Some(60));
    }

    #[test]
    fn expiry_inside_the_lsp() {
        // IP TTL 3: ingress → 2, LSR1 → 1, LSR2 receives 1 and drops.
        let l = on_push(decrement(3).unwrap());
        let l = on_swap(l).unwrap();
        assert_eq!(on_swap(l), None);
        assert_eq!(on_pop_and_forward(1, 64), None);
    }

    #[test]
    fn pop_never_raises_ttl() {
        assert_eq!(on_pop(10, 64), 10);
        assert_eq!(on_pop(200, 30), 30);
        assert_eq!(on_pop_and_forward(200, 30), Some(30));
        assert_eq!(on_push_over_label(17), 17);
    }
}
