//! Value types shared by messages, attributes and NLRI: address families, route
//! distinguishers, Ethernet segment identifiers, MAC addresses, labels/VNIs and prefixes.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// Address Family Identifier (IANA registry; RFC 4760 §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Afi(pub u16);

impl Afi {
    /// IPv4.
    pub const IPV4: Afi = Afi(1);
    /// IPv6.
    pub const IPV6: Afi = Afi(2);
    /// Layer-2 VPN (AFI 25), the family of EVPN (RFC 7432 §7).
    pub const L2VPN: Afi = Afi(25);
}

/// Subsequent Address Family Identifier (RFC 4760 §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Safi(pub u8);

impl Safi {
    /// Unicast.
    pub const UNICAST: Safi = Safi(1);
    /// EVPN (RFC 7432 §7).
    pub const EVPN: Safi = Safi(70);
    /// Route Target constrain (RFC 4684 §4).
    pub const RT_CONSTRAINT: Safi = Safi(132);
}

/// An AFI/SAFI pair: the unit of capability negotiation and of MP_REACH/MP_UNREACH.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Family {
    /// Address family.
    pub afi: Afi,
    /// Subsequent address family.
    pub safi: Safi,
}

impl Family {
    /// IPv4 unicast (1/1).
    pub const IPV4_UNICAST: Family = Family::new(Afi::IPV4, Safi::UNICAST);
    /// IPv6 unicast (2/1).
    pub const IPV6_UNICAST: Family = Family::new(Afi::IPV6, Safi::UNICAST);
    /// Route Target membership (1/132, RFC 4684).
    pub const RT_CONSTRAINT: Family = Family::new(Afi::IPV4, Safi::RT_CONSTRAINT);
    /// L2VPN EVPN (25/70, RFC 7432).
    pub const L2VPN_EVPN: Family = Family::new(Afi::L2VPN, Safi::EVPN);

    /// The family `afi`/`safi`.
    pub const fn new(afi: Afi, safi: Safi) -> Self {
        Family { afi, safi }
    }

    /// True for the families whose NLRI this codec parses into typed routes.
    pub fn is_known(&self) -> bool {
        matches!(
            *self,
            Family::IPV4_UNICAST
                | Family::IPV6_UNICAST
                | Family::RT_CONSTRAINT
                | Family::L2VPN_EVPN
        )
    }

    /// Stable short name (`ipv4-unicast`, `l2vpn-evpn`, ...) or `afi-N/safi-M`.
    pub fn name(&self) -> String {
        match *self {
            Family::IPV4_UNICAST => "ipv4-unicast".into(),
            Family::IPV6_UNICAST => "ipv6-unicast".into(),
            Family::RT_CONSTRAINT => "ipv4-rtc".into(),
            Family::L2VPN_EVPN => "l2vpn-evpn".into(),
            Family { afi, safi } => format!("afi-{}/safi-{}", afi.0, safi.0),
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// A 48-bit IEEE MAC address.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct MacAddress(pub [u8; 6]);

impl MacAddress {
    /// True for group (multicast or broadcast) addresses: the I/G bit is set.
    pub fn is_multicast(&self) -> bool {
        self.0[0] & 0x01 != 0
    }

    /// True for the all-zero address.
    pub fn is_zero(&self) -> bool {
        self.0 == [0; 6]
    }
}

impl fmt::Display for MacAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        )
    }
}

impl fmt::Debug for MacAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Error parsing a textual value (MAC, RD, ...).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseValueError(pub String);

impl fmt::Display for ParseValueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ParseValueError {}

impl FromStr for MacAddress {
    type Err = ParseValueError;

    /// Parses `aa:bb:cc:dd:ee:ff` (or with `-` separators).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || ParseValueError(format!("invalid MAC address {s:?}"));
        let mut out = [0u8; 6];
        let mut parts = s.split([':', '-']);
        for byte in out.iter_mut() {
            let part = parts.next().ok_or_else(bad)?;
            if part.len() != 2 {
                return Err(bad());
            }
            *byte = u8::from_str_radix(part, 16).map_err(|_| bad())?;
        }
        if parts.next().is_some() {
            return Err(bad());
        }
        Ok(MacAddress(out))
    }
}

/// A route distinguisher (RFC 4364 §4.2), kept as its 8 wire bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct RouteDistinguisher(pub [u8; 8]);

/// The typed forms of a route distinguisher (RFC 4364 §4.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RdKind {
    /// Type 0: 2-octet AS, 4-octet number.
    As2 {
        /// Administrator.
        asn: u16,
        /// Assigned number.
        number: u32,
    },
    /// Type 1: IPv4 address, 2-octet number (the form EVPN auto-derives, RFC 7432 §7.9).
    Ipv4 {
        /// Administrator.
        addr: Ipv4Addr,
        /// Assigned number.
        number: u16,
    },
    /// Type 2: 4-octet AS, 2-octet number.
    As4 {
        /// Administrator.
        asn: u32,
        /// Assigned number.
        number: u16,
    },
    /// Any other type, shown as raw bytes.
    Other([u8; 8]),
}

impl RouteDistinguisher {
    /// Type-0 RD `asn:number`.
    pub fn as2(asn: u16, number: u32) -> Self {
        let mut b = [0u8; 8];
        b[2..4].copy_from_slice(&asn.to_be_bytes());
        b[4..8].copy_from_slice(&number.to_be_bytes());
        RouteDistinguisher(b)
    }

    /// Type-1 RD `addr:number`.
    pub fn ipv4(addr: Ipv4Addr, number: u16) -> Self {
        let mut b = [0u8; 8];
        b[1] = 1;
        b[2..6].copy_from_slice(&addr.octets());
        b[6..8].copy_from_slice(&number.to_be_bytes());
        RouteDistinguisher(b)
    }

    /// Type-2 RD `asn:number` with a 4-octet AS.
    pub fn as4(asn: u32, number: u16) -> Self {
        let mut b = [0u8; 8];
        b[1] = 2;
        b[2..6].copy_from_slice(&asn.to_be_bytes());
        b[6..8].copy_from_slice(&number.to_be_bytes());
        RouteDistinguisher(b)
    }

    /// The typed view.
    pub fn kind(&self) -> RdKind {
        let b = &self.0;
        let u16_at = |i: usize| u16::from_be_bytes([b[i], b[i + 1]]);
        let u32_at = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        match u16_at(0) {
            0 => RdKind::As2 {
                asn: u16_at(2),
                number: u32_at(4),
            },
            1 => RdKind::Ipv4 {
                addr: Ipv4Addr::new(b[2], b[3], b[4], b[5]),
                number: u16_at(6),
            },
            2 => RdKind::As4 {
                asn: u32_at(2),
                number: u16_at(6),
            },
            _ => RdKind::Other(*b),
        }
    }
}

impl fmt::Display for RouteDistinguisher {
    /// `asn:number`, `a.b.c.d:number`, `asnL:number` (4-octet AS), or hex for other types.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind() {
            RdKind::As2 { asn, number } => write!(f, "{asn}:{number}"),
            RdKind::Ipv4 { addr, number } => write!(f, "{addr}:{number}"),
            RdKind::As4 { asn, number } => write!(f, "{asn}L:{number}"),
            RdKind::Other(b) => {
                for x in b {
                    write!(f, "{x:02x}")?;
                }
                Ok(())
            }
        }
    }
}

impl fmt::Debug for RouteDistinguisher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Rd({self})")
    }
}

impl FromStr for RouteDistinguisher {
    type Err = ParseValueError;

    /// Parses `asn:number` (type 0, or type 2 when the AS exceeds 16 bits or ends in `L`)
    /// and `a.b.c.d:number` (type 1).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || ParseValueError(format!("invalid route distinguisher {s:?}"));
        let (admin, number) = s.rsplit_once(':').ok_or_else(bad)?;
        if let Ok(addr) = admin.parse::<Ipv4Addr>() {
            return Ok(Self::ipv4(addr, number.parse().map_err(|_| bad())?));
        }
        let (admin, long) = match admin.strip_suffix('L') {
            Some(a) => (a, true),
            None => (admin, false),
        };
        let asn: u32 = admin.parse().map_err(|_| bad())?;
        match u16::try_from(asn) {
            Ok(asn16) if !long => Ok(Self::as2(asn16, number.parse().map_err(|_| bad())?)),
            _ => Ok(Self::as4(asn, number.parse().map_err(|_| bad())?)),
        }
    }
}

/// An Ethernet Segment Identifier (RFC 7432 §5), kept as its 10 wire bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Esi(pub [u8; 10]);

/// The typed forms of an ESI (RFC 7432 §5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EsiKind {
    /// Type 0: operator-configured 9-octet value.
    Arbitrary([u8; 9]),
    /// Type 1: LACP system MAC and port key.
    Lacp {
        /// CE LACP system MAC address.
        system_mac: MacAddress,
        /// CE LACP port key.
        port_key: u16,
    },
    /// Type 2: L2 bridge protocol root bridge MAC and priority.
    Bridge {
        /// Root bridge MAC address.
        root_mac: MacAddress,
        /// Root bridge priority.
        priority: u16,
    },
    /// Type 3: MAC-based: system MAC and 3-octet local discriminator.
    MacBased {
        /// System MAC address.
        system_mac: MacAddress,
        /// Local discriminator (24 bits).
        discriminator: u32,
    },
    /// Type 4: router ID and 4-octet local discriminator.
    RouterId {
        /// Router ID.
        router_id: Ipv4Addr,
        /// Local discriminator.
        discriminator: u32,
    },
    /// Type 5: AS number and 4-octet local discriminator.
    As {
        /// Autonomous system number.
        asn: u32,
        /// Local discriminator.
        discriminator: u32,
    },
    /// Any other type: raw value.
    Other {
        /// ESI type octet.
        esi_type: u8,
        /// Remaining 9 octets.
        value: [u8; 9],
    },
}

impl Esi {
    /// The all-zero ESI: a single-homed site (RFC 7432 §5).
    pub const ZERO: Esi = Esi([0; 10]);
    /// The MAX-ESI (all ones), reserved (RFC 7432 §5).
    pub const MAX: Esi = Esi([0xff; 10]);

    /// The ESI type octet.
    pub fn esi_type(&self) -> u8 {
        self.0[0]
    }

    /// True for the all-zero ESI.
    pub fn is_zero(&self) -> bool {
        self.0 == [0; 10]
    }

    /// The typed view.
    pub fn kind(&self) -> EsiKind {
        let b = &self.0;
        let mac = |i: usize| MacAddress([b[i], b[i + 1], b[i + 2], b[i + 3], b[i + 4], b[i + 5]]);
        let u16_at = |i: usize| u16::from_be_bytes([b[i], b[i + 1]]);
        let u32_at = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let mut value = [0u8; 9];
        value.copy_from_slice(&b[1..]);
        match b[0] {
            0 => EsiKind::Arbitrary(value),
            1 => EsiKind::Lacp {
                system_mac: mac(1),
                port_key: u16_at(7),
            },
            2 => EsiKind::Bridge {
                root_mac: mac(1),
                priority: u16_at(7),
            },
            3 => EsiKind::MacBased {
                system_mac: mac(1),
                discriminator: u32::from_be_bytes([0, b[7], b[8], b[9]]),
            },
            4 => EsiKind::RouterId {
                router_id: Ipv4Addr::new(b[1], b[2], b[3], b[4]),
                discriminator: u32_at(5),
            },
            5 => EsiKind::As {
                asn: u32_at(1),
                discriminator: u32_at(5),
            },
            esi_type => EsiKind::Other { esi_type, value },
        }
    }
}

impl fmt::Display for Esi {
    /// Colon-separated hex octets, the form FRR and GoBGP print.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, x) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(":")?;
            }
            write!(f, "{x:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Esi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Esi({self})")
    }
}

/// A 3-octet label field as carried in EVPN NLRI, PMSI tunnel and ESI label.
///
/// For MPLS it holds a 20-bit label, 3 EXP/TC bits and the bottom-of-stack bit. For VXLAN the
/// whole 24-bit field is the VNI (RFC 8365 §5.1.3). Both views are offered; the raw value is
/// what travels.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Label(u32);

impl Label {
    /// The label field carrying VXLAN network identifier `vni` (24 bits; RFC 8365 §5.1.3).
    /// Returns `None` when `vni` does not fit in 24 bits.
    pub fn from_vni(vni: u32) -> Option<Self> {
        (vni <= 0x00ff_ffff).then_some(Label(vni))
    }

    /// The label field carrying 20-bit MPLS `label` with the bottom-of-stack bit as given.
    pub fn from_mpls(label: u32, bottom_of_stack: bool) -> Option<Self> {
        (label <= 0x000f_ffff).then_some(Label((label << 4) | u32::from(bottom_of_stack)))
    }

    /// The label field from its raw 24-bit value (upper 8 bits ignored).
    pub fn from_raw(raw: u32) -> Self {
        Label(raw & 0x00ff_ffff)
    }

    /// The raw 24-bit field.
    pub fn raw(&self) -> u32 {
        self.0
    }

    /// The VNI view: the whole 24-bit field (RFC 8365 §5.1.3).
    pub fn vni(&self) -> u32 {
        self.0
    }

    /// The MPLS view: the high-order 20 bits.
    pub fn mpls_label(&self) -> u32 {
        self.0 >> 4
    }

    /// The MPLS bottom-of-stack bit.
    pub fn bottom_of_stack(&self) -> bool {
        self.0 & 1 != 0
    }

    pub(crate) fn to_bytes(self) -> [u8; 3] {
        let b = self.0.to_be_bytes();
        [b[1], b[2], b[3]]
    }
}

impl fmt::Debug for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Label(vni={}, mpls={})", self.vni(), self.mpls_label())
    }
}

/// A VXLAN network identifier: the 24-bit segment id of RFC 7348 §5, carried in the whole
/// label field of EVPN routes (RFC 8365 §5.1.3).
///
/// Validated once, where it enters (configuration, API, route import): VNI 0 is refused as
/// well as anything above 24 bits, so every `Vni` in the program names a usable segment.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Vni(u32);

/// A number that is not a usable VNI (0, or more than 24 bits).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InvalidVni(pub u32);

impl fmt::Display for InvalidVni {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "VNI {} is outside 1..={} (24 bits, RFC 7348 §5)",
            self.0,
            Vni::MAX.0
        )
    }
}

impl std::error::Error for InvalidVni {}

impl Vni {
    /// The largest VNI, 2^24 - 1.
    pub const MAX: Vni = Vni(0x00ff_ffff);

    /// `vni` when it is in 1..=2^24-1.
    pub const fn new(vni: u32) -> Result<Vni, InvalidVni> {
        if vni == 0 || vni > Vni::MAX.0 {
            Err(InvalidVni(vni))
        } else {
            Ok(Vni(vni))
        }
    }

    /// The VNI a label field carries (its whole 24 bits, RFC 8365 §5.1.3), unless that is 0.
    pub fn from_label(label: Label) -> Option<Vni> {
        Vni::new(label.vni()).ok()
    }

    /// The number.
    pub const fn get(self) -> u32 {
        self.0
    }

    /// The label field that carries this VNI (RFC 8365 §5.1.3).
    pub fn label(self) -> Label {
        Label(self.0)
    }
}

impl fmt::Display for Vni {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Debug for Vni {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Vni({})", self.0)
    }
}

impl TryFrom<u32> for Vni {
    type Error = InvalidVni;

    fn try_from(vni: u32) -> Result<Vni, InvalidVni> {
        Vni::new(vni)
    }
}

impl From<Vni> for u32 {
    fn from(v: Vni) -> u32 {
        v.0
    }
}

impl std::str::FromStr for Vni {
    type Err = String;

    /// A decimal number in 1..=2^24-1.
    fn from_str(s: &str) -> Result<Vni, String> {
        let n: u32 = s
            .trim()
            .parse()
            .map_err(|_| format!("{s:?} is not a VNI (a number in 1..={})", Vni::MAX.0))?;
        Vni::new(n).map_err(|e| e.to_string())
    }
}

/// An IP prefix: address and length, host bits cleared.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IpPrefix {
    addr: IpAddr,
    len: u8,
}

impl IpPrefix {
    /// The prefix `addr/len` with host bits cleared, or `None` if `len` exceeds the address
    /// width.
    pub fn new(addr: IpAddr, len: u8) -> Option<Self> {
        let addr = match addr {
            IpAddr::V4(a) => {
                if len > 32 {
                    return None;
                }
                let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
                IpAddr::V4(Ipv4Addr::from(u32::from(a) & mask))
            }
            IpAddr::V6(a) => {
                if len > 128 {
                    return None;
                }
                let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
                IpAddr::V6(Ipv6Addr::from(u128::from(a) & mask))
            }
        };
        Some(IpPrefix { addr, len })
    }

    /// The network address.
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length in bits. (A prefix is never "empty": `/0` is the default route,
    /// see [`IpPrefix::is_default`].)
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> u8 {
        self.len
    }

    /// True for a zero-length (default) prefix.
    pub fn is_default(&self) -> bool {
        self.len == 0
    }
}

impl fmt::Display for IpPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

impl fmt::Debug for IpPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for IpPrefix {
    type Err = ParseValueError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || ParseValueError(format!("invalid prefix {s:?}"));
        let (a, l) = s.split_once('/').ok_or_else(bad)?;
        IpPrefix::new(a.parse().map_err(|_| bad())?, l.parse().map_err(|_| bad())?).ok_or_else(bad)
    }
}

/// AS_TRANS, the 2-octet stand-in for a 4-octet AS number (RFC 6793 §9).
pub const AS_TRANS: u16 = 23456;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vni_is_validated_once_at_the_edge() {
        assert_eq!(Vni::new(0), Err(InvalidVni(0)));
        assert_eq!(Vni::new(1 << 24), Err(InvalidVni(1 << 24)));
        assert_eq!(Vni::new(0x00ff_ffff).map(Vni::get), Ok(0x00ff_ffff));
        assert_eq!("100".parse::<Vni>().map(Vni::get), Ok(100));
        assert!("0".parse::<Vni>().is_err());
        assert!("x".parse::<Vni>().is_err());
        assert!("16777216".parse::<Vni>().unwrap_err().contains("24 bits"));
        let v = Vni::new(5000).unwrap();
        assert_eq!(v.label().vni(), 5000);
        assert_eq!(Vni::from_label(v.label()), Some(v));
        assert_eq!(Vni::from_label(Label::from_raw(0)), None);
        assert_eq!(v.to_string(), "5000");
    }

    #[test]
    fn rd_text_forms_round_trip() {
        for s in ["65000:100", "198.19.0.1:100", "4200000000L:7"] {
            let rd: RouteDistinguisher = s.parse().unwrap();
            assert_eq!(rd.to_string(), s);
        }
        assert_eq!(
            "4200000000:7".parse::<RouteDistinguisher>().unwrap(),
            RouteDistinguisher::as4(4_200_000_000, 7)
        );
        assert!("x:1".parse::<RouteDistinguisher>().is_err());
        assert!("65000".parse::<RouteDistinguisher>().is_err());
    }

    #[test]
    fn label_views() {
        let l = Label::from_vni(0x000651).unwrap();
        assert_eq!(l.vni(), 1617);
        assert_eq!(l.mpls_label(), 101);
        assert!(Label::from_vni(1 << 24).is_none());
        let m = Label::from_mpls(300, true).unwrap();
        assert_eq!(m.raw(), (300 << 4) | 1);
        assert!(m.bottom_of_stack());
    }

    #[test]
    fn prefix_masks_host_bits() {
        let p = IpPrefix::new("192.0.2.77".parse().unwrap(), 24).unwrap();
        assert_eq!(p.to_string(), "192.0.2.0/24");
        assert!(IpPrefix::new("192.0.2.0".parse().unwrap(), 33).is_none());
        let d = IpPrefix::new("2001:db8::1".parse().unwrap(), 0).unwrap();
        assert_eq!(d.to_string(), "::/0");
    }

    #[test]
    fn mac_parse_and_print() {
        let m: MacAddress = "02:00:5e:00:53:01".parse().unwrap();
        assert_eq!(m.to_string(), "02:00:5e:00:53:01");
        assert!("02:00:5e:00:53".parse::<MacAddress>().is_err());
        assert!("02:00:5e:00:53:01:02".parse::<MacAddress>().is_err());
        assert!("ff:ff:ff:ff:ff:ff"
            .parse::<MacAddress>()
            .unwrap()
            .is_multicast());
    }

    #[test]
    fn esi_kinds() {
        let e = Esi([4, 10, 0, 0, 1, 0x55, 0x66, 0x77, 0x88, 0]);
        assert_eq!(
            e.kind(),
            EsiKind::RouterId {
                router_id: Ipv4Addr::new(10, 0, 0, 1),
                discriminator: 0x5566_7788
            }
        );
        assert_eq!(e.to_string(), "04:0a:00:00:01:55:66:77:88:00");
    }
}
