//! Prints a CER and an AMR (RFC 4004) built with `diameter::wire` as hex dumps in the
//! format `text2pcap` reads (one packet per message), for the independent tshark check in
//! `tests/interop/diameter/tshark-diameter.sh`:
//!
//! ```text
//! cargo run -p controlplane --example diameter_messages > d.txt
//! text2pcap -T 40000,3868 d.txt d.pcap && tshark -r d.pcap -V -Y diameter
//! ```

use std::net::{Ipv4Addr, Ipv6Addr};

use controlplane::diameter::wire::codes::{app, cmd, code, mip_feature};
use controlplane::diameter::wire::{Address, Avp, Message, Result};

fn cer() -> Message {
    Message::request(
        cmd::CAPABILITIES_EXCHANGE,
        app::COMMON,
        0x1122_3344,
        0x5566_7788,
    )
    .not_proxiable()
    .with(Avp::text(code::ORIGIN_HOST, "fa.visited.example"))
    .with(Avp::text(code::ORIGIN_REALM, "visited.example"))
    .with(Avp::address(
        code::HOST_IP_ADDRESS,
        &Address::V4(Ipv4Addr::new(192, 0, 2, 1)),
    ))
    .with(Avp::address(
        code::HOST_IP_ADDRESS,
        &Address::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)),
    ))
    .with(Avp::u32(code::VENDOR_ID, 0))
    .with(Avp::text(code::PRODUCT_NAME, "varouter").optional())
    .with(Avp::u32(code::ORIGIN_STATE_ID, 7))
    .with(Avp::u32(code::AUTH_APPLICATION_ID, app::MOBILE_IPV4))
}

fn amr() -> Result<Message> {
    Ok(Message::request(
        cmd::AA_MOBILE_NODE,
        app::MOBILE_IPV4,
        0x0000_0101,
        0x0000_0202,
    )
    .with(Avp::text(code::SESSION_ID, "fa.visited.example;1234;5678"))
    .with(Avp::u32(code::AUTH_APPLICATION_ID, app::MOBILE_IPV4))
    .with(Avp::text(code::USER_NAME, "alice@home.example"))
    .with(Avp::text(code::DESTINATION_REALM, "home.example"))
    .with(Avp::text(code::ORIGIN_HOST, "fa.visited.example"))
    .with(Avp::text(code::ORIGIN_REALM, "visited.example"))
    // A Mobile IPv4 Registration Request (RFC 5944 §3.3) as the FA relays it.
    .with(Avp::new(
        code::MIP_REG_REQUEST,
        [
            1u8, 0x02, 0, 120, 198, 51, 100, 7, 203, 0, 113, 1, 192, 0, 2, 1, 0, 0, 0, 1, 0, 0, 0,
            2,
        ],
    ))
    .with(Avp::grouped(
        code::MIP_MN_AAA_AUTH,
        &[
            Avp::u32(code::MIP_MN_AAA_SPI, 0x100),
            Avp::u32(code::MIP_AUTH_INPUT_DATA_LENGTH, 24),
            Avp::u32(code::MIP_AUTHENTICATOR_LENGTH, 16),
            Avp::u32(code::MIP_AUTHENTICATOR_OFFSET, 32),
        ],
    )?)
    .with(Avp::address(
        code::MIP_MOBILE_NODE_ADDRESS,
        &Address::V4(Ipv4Addr::new(198, 51, 100, 7)),
    ))
    .with(Avp::address(
        code::MIP_HOME_AGENT_ADDRESS,
        &Address::V4(Ipv4Addr::new(203, 0, 113, 1)),
    ))
    .with(Avp::u32(
        code::MIP_FEATURE_VECTOR,
        mip_feature::MN_HA_KEY_REQUEST | mip_feature::MN_FA_KEY_REQUEST,
    ))
    .with(Avp::u32(code::AUTH_SESSION_STATE, 1)))
}

fn dump(b: &[u8]) {
    for (i, line) in b.chunks(16).enumerate() {
        let hex: Vec<String> = line.iter().map(|x| format!("{x:02x}")).collect();
        println!("{:06x} {}", i * 16, hex.join(" "));
    }
    println!();
}

fn main() -> Result<()> {
    dump(&cer().emit()?);
    dump(&amr()?.emit()?);
    Ok(())
}
