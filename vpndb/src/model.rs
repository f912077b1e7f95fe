//! The shared data model of the mobile VPN (seed 003): what the AAA reads from the VPN
//! database and what it writes into the VPN information cache.
//!
//! Plain types with no database behind them, so that the AAA engines in `controlplane` can use
//! them with `default-features = false`:
//!
//! - [`VpnProfile`] — one VPN data instance of the **VPN database** (Fig. 5): profile number,
//!   the user's NAI, the VPN share indicator, the destination addresses, the up/down QoS class
//!   and the up/down SPI. A user (an NAI) may have several; the AAAH reads all of them at
//!   registration (S105) and records them in the cache.
//! - [`Sla`] — the **service level agreement** of Fig. 4 between the user's enterprise and the
//!   home ISP: the SPI and keys of the SA between the gateways, the QoS, the security type
//!   and the list of users that may use this VPN.
//! - [`CnGwEntry`] — one row of the **CN → GW correspondence table** (Fig. 8): a correspondent
//!   network (address and mask), the security gateway that serves it and whether a VPN can be
//!   set up to that gateway dynamically ([`GwType::Dynamic`], a PCN) or not
//!   ([`GwType::Static`], an enterprise VPNGW with a tunnel fixed by the SLA). Path
//!   determination (Fig. 13) looks up the destination here.
//! - [`VpnCacheEntry`] / [`VpnCacheProfile`] — one instance of the **VPN information cache**
//!   (Fig. 7), keyed by the session id, with per VPN the packet selector (addresses and masks),
//!   the TOS to set, the security type, the tunnel's source and destination gateways, the
//!   destination gateway's type, the SPIs and the keys.
//!
//! Values are checked when they are made (`Nai::parse`, `AddrMask::new`, ...) and again when they
//! are deserialized, so a malformed import file or database row is refused with an error
//! that names the field ([`ModelError`]); nothing here panics on bad input.
//!
//! Key material ([`KeyBytes`]) never appears in `Debug` output and is wiped when dropped.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

/// Why a value of the model was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    /// The NAI is not `user@realm` (RFC 7542) or is too long.
    #[error("bad NAI {nai:?}: {why}")]
    BadNai {
        /// The text given (truncated to 80 characters).
        nai: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// An address/mask is malformed, has a non-contiguous mask or host bits set.
    #[error("bad address/mask {text:?}: {why}")]
    BadAddrMask {
        /// The text given.
        text: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// A key is not hexadecimal or has an odd number of digits.
    #[error("bad key: {0}")]
    BadKey(&'static str),
    /// A field is out of its range or inconsistent with another.
    #[error("{field}: {why}")]
    Invalid {
        /// The field (dotted path, e.g. `profile 7 up_spi`).
        field: String,
        /// What is wrong with it.
        why: String,
    },
}

fn truncate(s: &str) -> String {
    s.chars().take(80).collect()
}

/// A user's Network Access Identifier, `user@realm` (RFC 7542; Mobile IP NAI extension,
/// RFC 2794), the key of the VPN database (Fig. 5, "Network Access Identifier of the user").
///
/// Checked: at most 253 octets, a non-empty user part without `@`, white space or control
/// characters, and a realm of dot-separated labels of letters, digits and `-` (not at a
/// label's ends). The realm is kept as given; comparisons are exact.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Nai(String);

impl Nai {
    /// Checks and wraps `s`.
    pub fn parse(s: &str) -> Result<Self, ModelError> {
        let bad = |why| ModelError::BadNai {
            nai: truncate(s),
            why,
        };
        if s.is_empty() {
            return Err(bad("empty"));
        }
        if s.len() > 253 {
            return Err(bad("longer than 253 octets"));
        }
        let (user, realm) = s.split_once('@').ok_or_else(|| bad("no '@realm'"))?;
        if user.is_empty() {
            return Err(bad("empty user part"));
        }
        if user
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || c == '@')
        {
            return Err(bad("user part has white space, a control character or '@'"));
        }
        if realm.is_empty() {
            return Err(bad("empty realm"));
        }
        for label in realm.split('.') {
            if label.is_empty() {
                return Err(bad("empty label in the realm"));
            }
            if label.len() > 63 {
                return Err(bad("realm label longer than 63 octets"));
            }
            if !label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            {
                return Err(bad(
                    "realm has a character other than letters, digits, '-', '.'",
                ));
            }
            if label.starts_with('-') || label.ends_with('-') {
                return Err(bad("realm label starts or ends with '-'"));
            }
        }
        Ok(Nai(s.to_owned()))
    }

    /// The NAI as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The realm (after the `@`).
    pub fn realm(&self) -> &str {
        self.0.split_once('@').map(|(_, r)| r).unwrap_or("")
    }
}

impl TryFrom<String> for Nai {
    type Error = ModelError;
    fn try_from(s: String) -> Result<Self, ModelError> {
        Nai::parse(&s)
    }
}

impl From<Nai> for String {
    fn from(n: Nai) -> String {
        n.0
    }
}

impl FromStr for Nai {
    type Err = ModelError;
    fn from_str(s: &str) -> Result<Self, ModelError> {
        Nai::parse(s)
    }
}

impl fmt::Display for Nai {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.0)
    }
}

impl fmt::Debug for Nai {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Nai({})", self.0)
    }
}

/// An IPv4 address with its net mask: a destination address of the VPN database (Fig. 5
/// `destaddr`), a CN address/net mask of the CN → GW table (Fig. 8), a source or destination
/// selector of the cache (Fig. 7).
///
/// The mask is contiguous and the address has no bits outside it (a host is `/32`). Written
/// (and read, e.g. in import files) as `10.1.0.0/16` or `10.1.0.0/255.255.0.0`; a bare address
/// means `/32`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AddrMask {
    addr: Ipv4Addr,
    mask: Ipv4Addr,
}

impl AddrMask {
    /// Checks and pairs `addr` and `mask`.
    pub fn new(addr: Ipv4Addr, mask: Ipv4Addr) -> Result<Self, ModelError> {
        let bad = |why| ModelError::BadAddrMask {
            text: format!("{addr}/{mask}"),
            why,
        };
        let m = u32::from(mask);
        if m.leading_ones() + m.trailing_zeros() != 32 {
            return Err(bad("the mask is not contiguous"));
        }
        if u32::from(addr) & !m != 0 {
            return Err(bad("the address has host bits set outside the mask"));
        }
        Ok(AddrMask { addr, mask })
    }

    /// `addr/len`, `len` at most 32.
    pub fn from_prefix(addr: Ipv4Addr, len: u8) -> Result<Self, ModelError> {
        if len > 32 {
            return Err(ModelError::BadAddrMask {
                text: format!("{addr}/{len}"),
                why: "prefix length above 32",
            });
        }
        let m = if len == 0 { 0 } else { u32::MAX << (32 - len) };
        AddrMask::new(addr, Ipv4Addr::from(m))
    }

    /// One host (`/32`).
    pub fn host(addr: Ipv4Addr) -> Self {
        AddrMask {
            addr,
            mask: Ipv4Addr::BROADCAST,
        }
    }

    /// The network address.
    pub fn addr(&self) -> Ipv4Addr {
        self.addr
    }

    /// The net mask.
    pub fn mask(&self) -> Ipv4Addr {
        self.mask
    }

    /// The prefix length (0–32).
    pub fn prefix_len(&self) -> u8 {
        // A contiguous mask: its ones are all leading.
        u32::from(self.mask).leading_ones() as u8
    }

    /// Whether `a` is inside this network.
    pub fn contains(&self, a: Ipv4Addr) -> bool {
        u32::from(a) & u32::from(self.mask) == u32::from(self.addr)
    }

    /// Whether every address of `other` is inside this network.
    pub fn covers(&self, other: &AddrMask) -> bool {
        self.prefix_len() <= other.prefix_len() && self.contains(other.addr)
    }
}

impl FromStr for AddrMask {
    type Err = ModelError;
    fn from_str(s: &str) -> Result<Self, ModelError> {
        let bad = |why| ModelError::BadAddrMask {
            text: truncate(s),
            why,
        };
        let (a, m) = match s.split_once('/') {
            Some((a, m)) => (a, Some(m)),
            None => (s, None),
        };
        let addr: Ipv4Addr = a.trim().parse().map_err(|_| bad("not an IPv4 address"))?;
        match m {
            None => Ok(AddrMask::host(addr)),
            Some(m) if m.contains('.') => {
                let mask: Ipv4Addr = m.trim().parse().map_err(|_| bad("mask is not dotted"))?;
                AddrMask::new(addr, mask)
            }
            Some(m) => {
                let len: u8 = m
                    .trim()
                    .parse()
                    .map_err(|_| bad("prefix length is not 0-32"))?;
                AddrMask::from_prefix(addr, len)
            }
        }
    }
}

impl TryFrom<String> for AddrMask {
    type Error = ModelError;
    fn try_from(s: String) -> Result<Self, ModelError> {
        s.parse()
    }
}

impl From<AddrMask> for String {
    fn from(a: AddrMask) -> String {
        a.to_string()
    }
}

impl fmt::Display for AddrMask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix_len())
    }
}

impl fmt::Debug for AddrMask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix_len())
    }
}

/// Key material: an ESP encryption key, an ESP or AH authentication key (Fig. 4 "keys",
/// Fig. 7 up/down ESP encryption and authentication keys).
///
/// `Debug` prints only the length; the bytes are wiped on drop. In files (import/export) a
/// key is lower-case hexadecimal.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct KeyBytes(Vec<u8>);

impl KeyBytes {
    /// Wraps `bytes` (taken, not copied).
    pub fn new(bytes: Vec<u8>) -> Self {
        KeyBytes(bytes)
    }

    /// The key bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there is no key.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Reads hexadecimal (upper or lower case, no separators).
    pub fn from_hex(s: &str) -> Result<Self, ModelError> {
        if !s.len().is_multiple_of(2) {
            return Err(ModelError::BadKey("odd number of hex digits"));
        }
        let digit = |b: u8| -> Result<u8, ModelError> {
            match b {
                b'0'..=b'9' => Ok(b - b'0'),
                b'a'..=b'f' => Ok(b - b'a' + 10),
                b'A'..=b'F' => Ok(b - b'A' + 10),
                _ => Err(ModelError::BadKey("not a hexadecimal digit")),
            }
        };
        let mut out = Vec::with_capacity(s.len() / 2);
        for pair in s.as_bytes().chunks_exact(2) {
            out.push(digit(pair[0])? << 4 | digit(pair[1])?);
        }
        Ok(KeyBytes(out))
    }

    /// Lower-case hexadecimal.
    pub fn to_hex(&self) -> String {
        const H: &[u8; 16] = b"0123456789abcdef";
        let mut s = String::with_capacity(self.0.len() * 2);
        for b in &self.0 {
            s.push(H[(b >> 4) as usize] as char);
            s.push(H[(b & 15) as usize] as char);
        }
        s
    }
}

impl Drop for KeyBytes {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

impl fmt::Debug for KeyBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyBytes(<{} bytes redacted>)", self.0.len())
    }
}

impl Serialize for KeyBytes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let hex = zeroize::Zeroizing::new(self.to_hex());
        s.serialize_str(&hex)
    }
}

impl<'de> Deserialize<'de> for KeyBytes {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = zeroize::Zeroizing::new(String::deserialize(d)?);
        KeyBytes::from_hex(&s).map_err(serde::de::Error::custom)
    }
}

/// How the tunnel between two gateways protects the packets (Fig. 7 "security type": "whether
/// the IP Sec. is to be set by the AH, the ESP or by only encapsulation").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecurityType {
    /// IPsec AH (authentication only).
    Ah,
    /// IPsec ESP (encryption and authentication).
    Esp,
    /// IP-in-IP encapsulation only, no IPsec.
    EncapsulationOnly,
}

impl SecurityType {
    /// The name stored in the database and written in files.
    pub fn as_str(self) -> &'static str {
        match self {
            SecurityType::Ah => "ah",
            SecurityType::Esp => "esp",
            SecurityType::EncapsulationOnly => "encapsulation_only",
        }
    }
}

impl FromStr for SecurityType {
    type Err = ModelError;
    fn from_str(s: &str) -> Result<Self, ModelError> {
        match s {
            "ah" => Ok(SecurityType::Ah),
            "esp" => Ok(SecurityType::Esp),
            "encapsulation_only" => Ok(SecurityType::EncapsulationOnly),
            _ => Err(ModelError::Invalid {
                field: "security".into(),
                why: format!("{:?} is not ah, esp or encapsulation_only", truncate(s)),
            }),
        }
    }
}

/// Whether a VPN can be set up to a gateway dynamically (Fig. 8 "GW type"; Fig. 13 S111).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GwType {
    /// An enterprise VPNGW whose tunnel to the HA is fixed by the SLA: the path is FA–HA plus
    /// HA–GW (Fig. 13 S113).
    Static,
    /// A gateway that takes tunnels on demand (a PCN of a roaming-contracted ISP): the path is
    /// FA–GW directly (Fig. 13 S112), moved by binding updates.
    Dynamic,
}

impl GwType {
    /// The name stored in the database and written in files.
    pub fn as_str(self) -> &'static str {
        match self {
            GwType::Static => "static",
            GwType::Dynamic => "dynamic",
        }
    }
}

impl FromStr for GwType {
    type Err = ModelError;
    fn from_str(s: &str) -> Result<Self, ModelError> {
        match s {
            "static" => Ok(GwType::Static),
            "dynamic" => Ok(GwType::Dynamic),
            _ => Err(ModelError::Invalid {
                field: "gw_type".into(),
                why: format!("{:?} is not static or dynamic", truncate(s)),
            }),
        }
    }
}

/// The VPN share indicator of Fig. 5 (`vpnshare`): whether the VPN uses the security
/// relationship shared between the gateways (the SLA's SA) or one of the user's own.
///
/// With [`VpnShare::Shared`] (0 in the seed) the up/down class and SPI may be omitted: the
/// SLA's apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VpnShare {
    /// 0: the SA shared between the security gateways (the SLA's SPI and keys).
    Shared,
    /// 1: the user's own SA (own SPIs; the AAAH generates its keys, S108).
    Own,
}

impl VpnShare {
    /// The seed's number (0 shared, 1 own), as stored in the database.
    pub fn as_i64(self) -> i64 {
        match self {
            VpnShare::Shared => 0,
            VpnShare::Own => 1,
        }
    }

    /// From the seed's number.
    pub fn from_i64(v: i64) -> Result<Self, ModelError> {
        match v {
            0 => Ok(VpnShare::Shared),
            1 => Ok(VpnShare::Own),
            _ => Err(ModelError::Invalid {
                field: "vpnshare".into(),
                why: format!("{v} is not 0 (shared) or 1 (own)"),
            }),
        }
    }
}

/// The QoS of an SLA (Fig. 4 "the service quality"): the TOS byte to mark in each direction
/// (0 = no marking, Fig. 23 S224). The DSCP is the upper six bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct Qos {
    /// TOS set on packets from the mobile node towards the CN.
    pub up_tos: u8,
    /// TOS set on packets from the CN towards the mobile node.
    pub down_tos: u8,
}

/// The keys of one SA pair between two gateways (Fig. 4 "keys"; Fig. 7 up/down ESP encryption
/// and authentication keys). Empty keys are absent (e.g. no ESP key for AH).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SaKeys {
    /// ESP encryption key, upward (MN → CN).
    #[serde(default)]
    pub up_enc: KeyBytes,
    /// ESP encryption key, downward (CN → MN).
    #[serde(default)]
    pub down_enc: KeyBytes,
    /// ESP or AH authentication key, upward.
    #[serde(default)]
    pub up_auth: KeyBytes,
    /// ESP or AH authentication key, downward.
    #[serde(default)]
    pub down_auth: KeyBytes,
}

/// The service level agreement of Fig. 4 (①) between the user's enterprise and the home ISP:
/// "an SPI and keys to be used, the service quality, and a list of users that can utilize this
/// VPN". Its SPIs and keys are the **default SA**, pre-provisioned at the mobility agents and
/// the enterprise gateway; a profile that uses them needs no key generation (S108).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sla {
    /// The SLA's name (the enterprise), unique; profiles refer to it.
    pub name: String,
    /// The SPI of the upward SA (MN side → enterprise).
    pub up_spi: u32,
    /// The SPI of the downward SA.
    pub down_spi: u32,
    /// The SA's keys.
    #[serde(default)]
    pub keys: SaKeys,
    /// The service quality.
    #[serde(default)]
    pub qos: Qos,
    /// How the tunnels of this VPN are protected.
    pub security: SecurityType,
    /// The enterprise's domain (the destination a profile names by default).
    #[serde(default)]
    pub domain: Vec<AddrMask>,
    /// The users who may use this VPN; a profile on this SLA must be one of theirs (an empty
    /// list allows anyone).
    #[serde(default)]
    pub users: Vec<Nai>,
}

/// One row of the CN → GW correspondence table (Fig. 8; filled from the SLA in Fig. 4 and for
/// the roaming partners' PCNs): a correspondent network, its security gateway and whether a VPN
/// to that gateway can be set up dynamically. Searched by the CN address (longest match).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CnGwEntry {
    /// CN address / net mask (e.g. the enterprise's domain), unique in the table.
    pub cn: AddrMask,
    /// The security gateway accommodating the CN (VPNGW or PCN).
    pub gw: Ipv4Addr,
    /// Static (fixed tunnel from the SLA) or dynamic (PCN).
    pub gw_type: GwType,
}

/// One VPN data instance of the VPN database (Fig. 5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VpnProfile {
    /// "Profile Number": identifies this VPN uniquely in the database.
    pub profile_number: u32,
    /// The user's NAI, the search key (S105).
    pub nai: Nai,
    /// The SLA this VPN belongs to (its SA, QoS and security type), by name.
    pub sla: String,
    /// `vpnshare`: shared SA or the user's own.
    pub vpnshare: VpnShare,
    /// `destaddr`: the communication destinations (CN addresses/masks); the user changes them
    /// on the web page of Fig. 30.
    pub destinations: Vec<AddrMask>,
    /// `upclass`: TOS for MN → CN (None: the SLA's).
    #[serde(default)]
    pub up_class: Option<u8>,
    /// `downclass`: TOS for CN → MN (None: the SLA's).
    #[serde(default)]
    pub down_class: Option<u8>,
    /// `upSPI` (None: the SLA's default SA).
    #[serde(default)]
    pub up_spi: Option<u32>,
    /// `downSPI` (None: the SLA's default SA).
    #[serde(default)]
    pub down_spi: Option<u32>,
}

/// The lowest SPI a profile may name; 1–255 are reserved by IANA (RFC 4303 §2.1) and 0 means
/// none.
pub const MIN_SPI: u32 = 256;

impl VpnProfile {
    /// Checks what the types do not: at least one destination, no duplicate destinations,
    /// SPIs out of the reserved range, both SPIs or neither, and own SPIs only with
    /// [`VpnShare::Own`].
    pub fn validate(&self) -> Result<(), ModelError> {
        let field = |f: &str| format!("profile {} {f}", self.profile_number);
        if self.profile_number == 0 {
            return Err(ModelError::Invalid {
                field: "profile_number".into(),
                why: "0 is not a profile number".into(),
            });
        }
        if self.sla.trim().is_empty() {
            return Err(ModelError::Invalid {
                field: field("sla"),
                why: "empty SLA name".into(),
            });
        }
        if self.destinations.is_empty() {
            return Err(ModelError::Invalid {
                field: field("destinations"),
                why: "a VPN needs at least one destination".into(),
            });
        }
        for (i, d) in self.destinations.iter().enumerate() {
            if self.destinations[..i].contains(d) {
                return Err(ModelError::Invalid {
                    field: field("destinations"),
                    why: format!("{d} is listed twice"),
                });
            }
        }
        match (self.up_spi, self.down_spi) {
            (None, None) => {}
            (Some(u), Some(d)) => {
                for (name, v) in [("up_spi", u), ("down_spi", d)] {
                    if v < MIN_SPI {
                        return Err(ModelError::Invalid {
                            field: field(name),
                            why: format!("{v} is reserved (SPIs start at {MIN_SPI})"),
                        });
                    }
                }
                if self.vpnshare == VpnShare::Shared {
                    return Err(ModelError::Invalid {
                        field: field("vpnshare"),
                        why: "own SPIs need vpnshare own".into(),
                    });
                }
            }
            _ => {
                return Err(ModelError::Invalid {
                    field: field("up_spi/down_spi"),
                    why: "give both SPIs or neither".into(),
                })
            }
        }
        Ok(())
    }

    /// Whether this VPN uses the SLA's default SA (no key generation, S108).
    pub fn uses_default_sa(&self) -> bool {
        self.vpnshare == VpnShare::Shared || self.up_spi.is_none()
    }
}

impl Sla {
    /// Checks what the types do not: a name, SPIs out of the reserved range, keys that fit the
    /// security type (an ESP SLA needs encryption keys), no duplicate users.
    pub fn validate(&self) -> Result<(), ModelError> {
        let field = |f: &str| format!("sla {} {f}", self.name);
        if self.name.trim().is_empty() || self.name.len() > 128 {
            return Err(ModelError::Invalid {
                field: "sla name".into(),
                why: "empty or longer than 128 octets".into(),
            });
        }
        for (name, v) in [("up_spi", self.up_spi), ("down_spi", self.down_spi)] {
            if v < MIN_SPI {
                return Err(ModelError::Invalid {
                    field: field(name),
                    why: format!("{v} is reserved (SPIs start at {MIN_SPI})"),
                });
            }
        }
        if self.security == SecurityType::Esp
            && (self.keys.up_enc.is_empty() || self.keys.down_enc.is_empty())
        {
            return Err(ModelError::Invalid {
                field: field("keys"),
                why: "ESP needs up_enc and down_enc keys".into(),
            });
        }
        for (i, u) in self.users.iter().enumerate() {
            if self.users[..i].contains(u) {
                return Err(ModelError::Invalid {
                    field: field("users"),
                    why: format!("{u} is listed twice"),
                });
            }
        }
        Ok(())
    }
}

/// A profile as stored: the profile plus what the store keeps about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredProfile {
    /// The VPN data instance.
    pub profile: VpnProfile,
    /// Raised by one at every change (upsert, mark-changed); the AAAH compares it with the
    /// version it cached to know whether to re-read (the service update of Fig. 30).
    pub version: i64,
    /// When it last changed, Unix seconds.
    pub changed_at: i64,
    /// Set by a change through the web page (Fig. 30 ①) and cleared when the AAAH has re-read
    /// it for a registration with the service-update request (③).
    pub service_update: bool,
}

/// Everything the AAAH needs about one user at registration (S105–S110), read in one
/// transaction: the user's VPN data instances, the SLAs they name, and for each destination
/// the CN → GW row path determination will pick (longest match; a destination no row covers
/// has none here).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserVpn {
    /// The user.
    pub nai: Nai,
    /// The profiles, by number (with version and service-update mark).
    pub profiles: Vec<StoredProfile>,
    /// The SLAs the profiles name, by name.
    pub slas: Vec<Sla>,
    /// The CN → GW rows that cover the profiles' destinations, by CN.
    pub cn_gw: Vec<CnGwEntry>,
}

/// One audited change (who, what, when): every write to the database leaves one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Sequence number, increasing.
    pub id: i64,
    /// When, Unix seconds.
    pub at: i64,
    /// Who: an operator name, `web:<nai>` for the user's page, `import`, `aaa`.
    pub actor: String,
    /// What: `upsert_profile`, `delete_profile`, `mark_changed`, `set_destinations`, ...
    pub action: String,
    /// On what: `profile 7`, `sla acme`, `cn 10.1.0.0/16`.
    pub target: String,
    /// Details (the new destinations, the version reached); never keys.
    pub detail: String,
}

/// One VPN of a VPN information cache instance (Fig. 7, "VPN information profile").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VpnCacheProfile {
    /// The profile number of the VPN data instance it came from.
    pub profile_number: u32,
    /// Transmitter IP address and net mask (the packets the VPN applies to, e.g. the MN's home
    /// address /32).
    pub src: AddrMask,
    /// Destination IP address and net mask (the CN network).
    pub dst: AddrMask,
    /// The TOS value to set on the packet (0: none).
    pub tos: u8,
    /// AH, ESP or encapsulation only.
    pub security: SecurityType,
    /// Transmitter gateway: the tunnel's entrance.
    pub src_gw: Ipv4Addr,
    /// Destination gateway: the tunnel's exit.
    pub dst_gw: Ipv4Addr,
    /// Whether a VPN can be set up dynamically to the destination gateway.
    pub dst_gw_type: GwType,
    /// Upward SPI.
    pub up_spi: u32,
    /// Downward SPI.
    pub down_spi: u32,
    /// Upward and downward ESP encryption and authentication keys.
    pub keys: SaKeys,
}

/// One instance of the VPN information cache (Fig. 7): the VPNs of one session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VpnCacheEntry {
    /// The session id (unique user information valid while the user is on the network; the
    /// Diameter Session-Id).
    pub session_id: String,
    /// The user.
    pub nai: Nai,
    /// The VPNs ("profile number ... shows a number of VPNs set by the user" is their count).
    pub profiles: Vec<VpnCacheProfile>,
}

/// One current tunnel of a user: one VPN (profile) of a registration session, as the AAAH
/// provisioned it (Fig. 7 cache entry plus the path of Fig. 13). The web page of Fig. 30 shows
/// a user its tunnels; the table is `vpn_session`, keyed by (session id, profile number).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VpnSession {
    /// The session id (the Diameter Session-Id of the registration).
    pub session_id: String,
    /// The user.
    pub nai: Nai,
    /// The VPN data instance the tunnel carries.
    pub profile_number: u32,
    /// The foreign agent the user is registered through.
    pub fa: Ipv4Addr,
    /// The home agent.
    pub ha: Ipv4Addr,
    /// Transmitter gateway (the tunnel's entrance: the FA or the HA, Fig. 13).
    pub src_gw: Ipv4Addr,
    /// Destination gateway (the VPNGW or the PCN).
    pub dst_gw: Ipv4Addr,
    /// Static (path FA–HA plus HA–GW) or dynamic (FA–PCN directly).
    pub gw_type: GwType,
    /// Upward SPI.
    pub up_spi: u32,
    /// Downward SPI.
    pub down_spi: u32,
    /// When the registration made it, Unix seconds.
    pub created_at: i64,
    /// When it lapses unless the user registers again (registration lifetime), Unix seconds.
    pub expires_at: i64,
}

/// The longest session id stored (Diameter Session-Ids are short; this bounds a row).
pub const MAX_SESSION_ID: usize = 256;

impl VpnSession {
    /// Checks the values the table constrains (so a bad one is a clear error, not a
    /// backend's constraint message).
    pub fn validate(&self) -> Result<(), ModelError> {
        let bad = |field: &str, why: String| ModelError::Invalid {
            field: format!("session {:?} {field}", truncate(&self.session_id)),
            why,
        };
        if self.session_id.is_empty() || self.session_id.len() > MAX_SESSION_ID {
            return Err(bad(
                "session_id",
                format!("must be 1-{MAX_SESSION_ID} bytes"),
            ));
        }
        if self.session_id.chars().any(char::is_control) {
            return Err(bad("session_id", "has control characters".into()));
        }
        if self.profile_number == 0 {
            return Err(bad("profile_number", "0 is not a profile number".into()));
        }
        for (f, v) in [("up_spi", self.up_spi), ("down_spi", self.down_spi)] {
            if v < MIN_SPI {
                return Err(bad(f, format!("{v} is reserved (SPIs start at {MIN_SPI})")));
            }
        }
        if self.expires_at < self.created_at {
            return Err(bad(
                "expires_at",
                format!(
                    "{} is before created_at {}",
                    self.expires_at, self.created_at
                ),
            ));
        }
        Ok(())
    }
}

/// Whether `hash` is an argon2id password hash in PHC form (`$argon2id$v=19$m=..$salt$hash`):
/// what `vpn_login` stores. The store refuses anything else, so a password can never be
/// stored in clear by mistake. (The shape only; the argon2 crate parses it when verifying.)
pub fn is_argon2id_phc(hash: &str) -> bool {
    let Some(rest) = hash.strip_prefix("$argon2id$") else {
        return false;
    };
    let parts: Vec<&str> = rest.split('$').collect();
    hash.len() <= 512
        && (3..=4).contains(&parts.len())
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"+/=,.-".contains(&b))
        })
}

/// The whole database as one document: what `varouter vpndb import` reads and `export`
/// writes (YAML or JSON).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct VpnDocument {
    /// The SLAs (Fig. 4).
    #[serde(default)]
    pub slas: Vec<Sla>,
    /// The CN → GW table (Fig. 8).
    #[serde(default)]
    pub cn_gw: Vec<CnGwEntry>,
    /// The VPN data instances (Fig. 5).
    #[serde(default)]
    pub profiles: Vec<VpnProfile>,
}

impl VpnDocument {
    /// Checks every element and the references between them: unique names and numbers,
    /// profiles naming an SLA of the document that lists their user (or lists none), unique
    /// CN networks.
    pub fn validate(&self) -> Result<(), ModelError> {
        self.validate_entries()?;
        for p in &self.profiles {
            let Some(sla) = self.slas.iter().find(|s| s.name == p.sla) else {
                return Err(ModelError::Invalid {
                    field: format!("profile {} sla", p.profile_number),
                    why: format!("no SLA named {:?} in the document", p.sla),
                });
            };
            if !sla.users.is_empty() && !sla.users.contains(&p.nai) {
                return Err(ModelError::Invalid {
                    field: format!("profile {} nai", p.profile_number),
                    why: format!("{} is not a user of SLA {:?}", p.nai, p.sla),
                });
            }
        }
        Ok(())
    }

    /// Checks every element and the uniqueness of names and numbers, but not that a profile's
    /// SLA is in the document (an import may name an SLA already in the database).
    pub fn validate_entries(&self) -> Result<(), ModelError> {
        for (i, s) in self.slas.iter().enumerate() {
            s.validate()?;
            if self.slas[..i].iter().any(|o| o.name == s.name) {
                return Err(ModelError::Invalid {
                    field: format!("sla {}", s.name),
                    why: "defined twice".into(),
                });
            }
        }
        for (i, c) in self.cn_gw.iter().enumerate() {
            if self.cn_gw[..i].iter().any(|o| o.cn == c.cn) {
                return Err(ModelError::Invalid {
                    field: format!("cn_gw {}", c.cn),
                    why: "defined twice".into(),
                });
            }
        }
        for (i, p) in self.profiles.iter().enumerate() {
            p.validate()?;
            if self.profiles[..i]
                .iter()
                .any(|o| o.profile_number == p.profile_number)
            {
                return Err(ModelError::Invalid {
                    field: format!("profile {}", p.profile_number),
                    why: "defined twice".into(),
                });
            }
        }
        Ok(())
    }
}

/// The longest-match lookup of path determination (Fig. 13 S110): the entry of `table` whose
/// CN network covers `dst` most specifically.
pub fn lookup_cn_gw<'a>(table: &'a [CnGwEntry], dst: &AddrMask) -> Option<&'a CnGwEntry> {
    table
        .iter()
        .filter(|e| e.cn.covers(dst))
        .max_by_key(|e| e.cn.prefix_len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nai_checks() {
        assert!(Nai::parse("alice@acme.example").is_ok());
        assert_eq!(
            Nai::parse("alice@acme.example").unwrap().realm(),
            "acme.example"
        );
        for bad in [
            "",
            "alice",
            "@acme",
            "alice@",
            "al ice@acme",
            "a@b@c",
            "a@-x.com",
            "a@x..com",
            "a@x_y.com",
            "a\n@x.com",
        ] {
            assert!(Nai::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert!(Nai::parse(&format!("a@{}", "x".repeat(64))).is_err());
        assert!(Nai::parse(&format!("{}@x.com", "a".repeat(260))).is_err());
    }

    #[test]
    fn addr_mask_checks() {
        let a: AddrMask = "10.1.0.0/16".parse().unwrap();
        assert_eq!(a.mask(), Ipv4Addr::new(255, 255, 0, 0));
        assert_eq!("10.1.0.0/255.255.0.0".parse::<AddrMask>().unwrap(), a);
        assert_eq!("10.1.2.3".parse::<AddrMask>().unwrap().prefix_len(), 32);
        assert_eq!("0.0.0.0/0".parse::<AddrMask>().unwrap().prefix_len(), 0);
        assert!(a.contains(Ipv4Addr::new(10, 1, 9, 9)));
        assert!(!a.contains(Ipv4Addr::new(10, 2, 0, 0)));
        for bad in [
            "10.1.0.1/16",
            "10.1.0.0/33",
            "10.1.0.0/255.0.255.0",
            "10.1.0/16",
            "x/8",
            "10.0.0.0/-1",
            "",
        ] {
            assert!(bad.parse::<AddrMask>().is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn key_hex_and_debug() {
        let k = KeyBytes::from_hex("00ff10Ab").unwrap();
        assert_eq!(k.as_bytes(), &[0, 255, 16, 171]);
        assert_eq!(k.to_hex(), "00ff10ab");
        let dbg = format!("{k:?}");
        assert!(!dbg.contains("ab") && dbg.contains("4 bytes"), "{dbg}");
        assert!(KeyBytes::from_hex("abc").is_err());
        assert!(KeyBytes::from_hex("zz").is_err());
    }

    #[test]
    fn cn_gw_longest_match() {
        let t = [
            CnGwEntry {
                cn: "10.0.0.0/8".parse().unwrap(),
                gw: Ipv4Addr::new(1, 1, 1, 1),
                gw_type: GwType::Static,
            },
            CnGwEntry {
                cn: "10.1.0.0/16".parse().unwrap(),
                gw: Ipv4Addr::new(2, 2, 2, 2),
                gw_type: GwType::Dynamic,
            },
        ];
        let hit = lookup_cn_gw(&t, &"10.1.2.0/24".parse().unwrap()).unwrap();
        assert_eq!(hit.gw, Ipv4Addr::new(2, 2, 2, 2));
        let hit = lookup_cn_gw(&t, &"10.2.0.0/16".parse().unwrap()).unwrap();
        assert_eq!(hit.gw, Ipv4Addr::new(1, 1, 1, 1));
        assert!(lookup_cn_gw(&t, &"11.0.0.0/8".parse().unwrap()).is_none());
        assert!(lookup_cn_gw(&t, &"0.0.0.0/0".parse().unwrap()).is_none());
    }
}
