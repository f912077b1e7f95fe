//! Fuzzes the PPP wire format: every packet kind is parsed from the input; whatever parses is
//! emitted again and must parse back to the same value.
#![no_main]

use controlplane::ppp::wire::{
    frame, ChapRepr, CpRepr, IpcpOption, Ipv6cpOption, LcpOption, MsChapV2Response, PapRepr,
};
use libfuzzer_sys::fuzz_target;

fn cp<O: controlplane::ppp::wire::CpOption>(data: &[u8]) {
    if let Ok(r) = CpRepr::<O>::parse_bytes(data) {
        let mut out = Vec::new();
        r.emit(&mut out).unwrap();
        assert_eq!(CpRepr::<O>::parse_bytes(&out).unwrap(), r);
    }
}

fuzz_target!(|data: &[u8]| {
    let _ = frame::parse(data);
    cp::<LcpOption>(data);
    cp::<IpcpOption>(data);
    cp::<Ipv6cpOption>(data);
    if let Ok(r) = PapRepr::parse_bytes(data) {
        let mut out = Vec::new();
        r.emit(&mut out).unwrap();
        assert_eq!(PapRepr::parse_bytes(&out).unwrap(), r);
    }
    if let Ok(r) = ChapRepr::parse_bytes(data) {
        let mut out = Vec::new();
        r.emit(&mut out).unwrap();
        assert_eq!(ChapRepr::parse_bytes(&out).unwrap(), r);
        if let ChapRepr::Response { value, .. } = &r {
            if let Ok(v) = MsChapV2Response::parse(value) {
                assert_eq!(MsChapV2Response::parse(&v.to_value()).unwrap(), v);
            }
        }
    }
});
