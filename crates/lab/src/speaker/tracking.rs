//! What a [`Session`](super::Session)'s reader keeps of the messages it receives: counters,
//! and by [`Tracking`] mode nothing, a net NLRI count, a set of NLRI digests or a whole
//! Adj-RIB-In (RFC 4271 §3.2) with each UPDATE's RFC 7606 outcome applied. The count and key
//! modes find EVPN NLRI by their length fields alone, which keeps a benchmark sink faster
//! than the device under test.

use super::Tracking;
use evpnd_wire::{
    decode_message, frame_length, CodecContext, DecodeError, Family, Message, NextHop, Nlri,
    Notification, Outcome, PathAttribute, Update,
};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;
use std::time::Instant;

/// A fast non-cryptographic hasher (multiply-rotate, as in rustc's FxHasher) for the route
/// table: the keys come from our own test peers, and SipHash would make the sink, not the
/// device under test, the bottleneck of the benchmark.
#[derive(Clone, Copy, Debug, Default)]
pub struct FastHasher(u64);

impl Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.write_u64(u64::from_le_bytes(w));
        }
        for b in chunks.remainder() {
            self.write_u64(u64::from(*b));
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn write_u8(&mut self, n: u8) {
        self.write_u64(u64::from(n));
    }
    fn write_u16(&mut self, n: u16) {
        self.write_u64(u64::from(n));
    }
    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }
    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

/// A session's Adj-RIB-In: every route held, with its path.
pub type RouteTable = HashMap<Nlri, Arc<PathInfo>, BuildHasherDefault<FastHasher>>;

/// A route's path as received: next hop (from MP_REACH_NLRI, or NEXT_HOP for IPv4) and the
/// other attributes. Shared by every route of one UPDATE.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathInfo {
    /// The next hop.
    pub next_hop: Option<NextHop>,
    /// The path attributes other than MP_REACH/MP_UNREACH, in received order.
    pub attributes: Vec<PathAttribute>,
}

impl PathInfo {
    /// The first attribute of `type_code`.
    pub fn attribute(&self, type_code: u8) -> Option<&PathAttribute> {
        self.attributes.iter().find(|a| a.type_code() == type_code)
    }
}

/// Counters of one session, as seen by the reader.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SessionStats {
    /// Messages received after the handshake.
    pub messages: u64,
    /// UPDATE messages received.
    pub updates: u64,
    /// KEEPALIVE messages received.
    pub keepalives: u64,
    /// Bytes received after the handshake.
    pub bytes: u64,
    /// NLRI announced (counting repeats), when routes are tracked.
    pub announced: u64,
    /// NLRI withdrawn (including treat-as-withdraw), when routes are tracked.
    pub withdrawn: u64,
    /// UPDATEs whose RFC 7606 outcome was not "accept".
    pub not_accepted: u64,
    /// Families for which an End-of-RIB marker arrived (RFC 4724 §2).
    pub end_of_rib: Vec<Family>,
    /// The NOTIFICATION the peer sent, if any.
    pub notification: Option<Notification>,
    /// Why the session ended (EOF, error, hold timer), once it has.
    pub closed: Option<String>,
}

/// What the reader keeps, behind the session's lock.
#[derive(Default)]
pub(super) struct State {
    /// The counters.
    pub stats: SessionStats,
    /// Net EVPN NLRI count in `Tracking::Count` mode.
    pub counted: i64,
    /// EVPN NLRI keys held in `Tracking::Keys` mode.
    pub keys: KeySet,
    /// The mode (`None` until the session is established).
    pub tracking: Option<Tracking>,
    /// The Adj-RIB-In in `Tracking::Full` mode.
    pub routes: RouteTable,
    /// The route count a waiter expects ([`Session::wait_routes`](super::Session::wait_routes)).
    pub target: Option<usize>,
    /// When the reader saw `held() == target` (cleared when it changes again).
    pub reached_at: Option<Instant>,
    /// When the last UPDATE arrived.
    pub last_update_at: Option<Instant>,
    /// Threads waiting for the state to change (the reader wakes them only when there are).
    pub waiters: usize,
}

impl State {
    /// Routes held: the table size, the key set's size, or the net NLRI count, by mode.
    pub fn held(&self) -> usize {
        match self.tracking {
            Some(Tracking::Count) => usize::try_from(self.counted).unwrap_or(0),
            Some(Tracking::Keys) => self.keys.len(),
            _ => self.routes.len(),
        }
    }

    /// After a batch of messages: records the instant the route count reached the waiter's
    /// target, or forgets it when the count moved away again.
    pub fn note_target(&mut self) {
        if let (Some(t), None) = (self.target, self.reached_at) {
            if self.held() == t {
                self.reached_at = Some(Instant::now());
            }
        } else if self.target.is_some_and(|t| self.held() != t) {
            self.reached_at = None;
        }
    }
}

/// Why the reader ends a session: the reason, and the NOTIFICATION to send first (none when
/// the peer sent one).
pub(super) type Ending = (String, Option<Notification>);

/// Processes the message at the start of `bytes`, read at `now`: `Ok(None)` when incomplete,
/// the length when handled, an error (reason, NOTIFICATION to send) when the session must
/// end.
pub(super) fn process(
    ctx: &CodecContext,
    bytes: &[u8],
    track: Tracking,
    st: &mut State,
    now: Instant,
) -> Result<Option<usize>, Ending> {
    let len = match frame_length(ctx, bytes) {
        Ok(Some(n)) if n <= bytes.len() => n,
        Ok(_) => return Ok(None),
        Err(DecodeError::Reset(r)) => {
            return Err((
                format!("bad message header: {r}"),
                Some(Notification::from_reset(&r)),
            ))
        }
        Err(DecodeError::Incomplete { .. }) => return Ok(None),
    };
    st.stats.messages += 1;
    if bytes[18] == 2 && track != Tracking::Full {
        st.stats.updates += 1;
        st.last_update_at = Some(now);
        let bad = || {
            (
                "UPDATE whose attribute or NLRI lengths do not add up".to_string(),
                None,
            )
        };
        match track {
            Tracking::Count => {
                let (a, w) = count_evpn_nlri(&bytes[..len]).ok_or_else(bad)?;
                st.stats.announced += a;
                st.stats.withdrawn += w;
                st.counted += a as i64 - w as i64;
            }
            Tracking::Keys => {
                let State { stats, keys, .. } = st;
                for_each_evpn_nlri(&bytes[..len], |announced, nlri| {
                    if announced {
                        stats.announced += 1;
                        keys.insert(nlri_key(nlri));
                    } else {
                        stats.withdrawn += 1;
                        keys.remove(&nlri_key(nlri));
                    }
                })
                .ok_or_else(bad)?;
            }
            Tracking::Off | Tracking::Full => {}
        }
        return Ok(Some(len));
    }
    let d = match decode_message(ctx, &bytes[..len]) {
        Ok(d) => d,
        Err(DecodeError::Reset(r)) => {
            return Err((
                format!("malformed message: {r}"),
                Some(Notification::from_reset(&r)),
            ))
        }
        Err(DecodeError::Incomplete { .. }) => return Ok(None),
    };
    match d.message {
        Message::Keepalive => st.stats.keepalives += 1,
        Message::Notification(n) => {
            let why = format!("NOTIFICATION {}/{} {:?}", n.code, n.subcode, n.describe());
            st.stats.notification = Some(n);
            return Err((why, None));
        }
        Message::Open(_) => {
            return Err((
                "OPEN in Established".into(),
                Some(Notification {
                    code: 5,
                    subcode: 3,
                    data: Vec::new(),
                }),
            ))
        }
        Message::RouteRefresh(_) => {}
        Message::Update(u) => {
            st.stats.updates += 1;
            st.last_update_at = Some(now);
            if let Some(f) = u.as_end_of_rib() {
                st.stats.end_of_rib.push(f);
                return Ok(Some(len));
            }
            if !matches!(d.outcome, Outcome::Accept) {
                st.stats.not_accepted += 1;
            }
            apply_update(u, &d.outcome, st);
        }
    }
    Ok(Some(len))
}

fn apply_update(u: Update, outcome: &Outcome, st: &mut State) {
    match outcome {
        Outcome::TreatAsWithdraw(_) => {
            for (_, n) in u.treat_as_withdraw() {
                st.stats.withdrawn += 1;
                st.routes.remove(n);
            }
        }
        Outcome::AfiSafiDisable { family, .. } => {
            let f = *family;
            st.routes.retain(|n, _| n.route.family() != f);
        }
        Outcome::Accept | Outcome::AttributeDiscard(_) => {
            for (_, n) in u.withdrawals() {
                st.stats.withdrawn += 1;
                st.routes.remove(n);
            }
            let next_hop = match (&u.mp_reach, u.attribute(3)) {
                (Some(m), _) => Some(m.next_hop.clone()),
                (None, Some(PathAttribute::NextHop(a))) => Some(NextHop::Ipv4(*a)),
                _ => None,
            };
            let Update {
                attributes,
                mp_reach,
                nlri,
                ..
            } = u;
            let path = Arc::new(PathInfo {
                next_hop,
                attributes,
            });
            let announced = nlri
                .into_iter()
                .chain(mp_reach.into_iter().flat_map(|m| m.nlri));
            for n in announced {
                st.stats.announced += 1;
                st.routes.insert(n, path.clone());
            }
        }
    }
}

/// Calls `f(announced, nlri)` for every L2VPN EVPN NLRI (AFI 25, SAFI 70) of the UPDATE
/// `msg`: announced ones from MP_REACH_NLRI, withdrawn ones from MP_UNREACH_NLRI, found by
/// their length fields alone (RFC 4271 §4.3, RFC 4760 §3–4, RFC 7432 §7: route type, length,
/// value), without ADD-PATH. `None` when a length overruns its container (the NLRI before the
/// overrun have been reported).
pub fn for_each_evpn_nlri<F: FnMut(bool, &[u8])>(msg: &[u8], mut f: F) -> Option<()> {
    for_each_mp_nlri(msg, |family, announced, nlri| {
        if family == Family::L2VPN_EVPN {
            f(announced, nlri)
        }
    })
}

/// Calls `f(family, announced, nlri)` for every L2VPN EVPN NLRI (RFC 7432 §7: type, length in
/// octets, value) and every IPv4 RT membership NLRI (RFC 4684 §4: length in bits, value) of
/// the UPDATE `msg`, from MP_REACH_NLRI (announced) and MP_UNREACH_NLRI (withdrawn), found by
/// their length fields alone, without ADD-PATH; other families are skipped. `None` when a
/// length overruns its container (the NLRI before the overrun have been reported).
pub fn for_each_mp_nlri<F: FnMut(Family, bool, &[u8])>(msg: &[u8], mut f: F) -> Option<()> {
    for_each_mp_field(msg, |family, announced, mut b| {
        while !b.is_empty() {
            let end = if family == Family::L2VPN_EVPN {
                2 + usize::from(*b.get(1)?)
            } else {
                1 + usize::from(*b.first()?).div_ceil(8)
            };
            f(family, announced, b.get(..end)?);
            b = &b[end..];
        }
        Some(())
    })
}

/// Calls `f(family, announced, field)` with the NLRI field of every MP_REACH_NLRI
/// (announced) and MP_UNREACH_NLRI (withdrawn) attribute of the UPDATE `msg` whose family is
/// L2VPN EVPN or IPv4 RT membership (RFC 4760 §3–4); `f` fails with `None` when the field's
/// NLRI do not add up. `None` when a length overruns its container.
fn for_each_mp_field<F: FnMut(Family, bool, &[u8]) -> Option<()>>(
    msg: &[u8],
    mut f: F,
) -> Option<()> {
    let be16 = |b: &[u8], at: usize| -> Option<usize> {
        Some(usize::from(u16::from_be_bytes([
            *b.get(at)?,
            *b.get(at + 1)?,
        ])))
    };
    let body = msg.get(19..)?;
    let wlen = be16(body, 0)?;
    let alen = be16(body, 2 + wlen)?;
    let mut attrs = body.get(4 + wlen..4 + wlen + alen)?;
    while !attrs.is_empty() {
        let (flags, code) = (*attrs.first()?, *attrs.get(1)?);
        let (len, hdr) = if flags & 0x10 != 0 {
            (be16(attrs, 2)?, 4)
        } else {
            (usize::from(*attrs.get(2)?), 3)
        };
        let v = attrs.get(hdr..hdr + len)?;
        let family = match v.get(..3) {
            Some([0, 25, 70]) => Some(Family::L2VPN_EVPN),
            Some([0, 1, 132]) => Some(Family::RT_CONSTRAINT),
            _ => None,
        };
        match (code, family) {
            (14, Some(fam)) => {
                let nh_len = usize::from(*v.get(3)?);
                f(fam, true, v.get(5 + nh_len..)?)?;
            }
            (15, Some(fam)) => f(fam, false, v.get(3..)?)?,
            _ => {}
        }
        attrs = attrs.get(hdr + len..)?;
    }
    Some(())
}

/// The number of EVPN NLRI announced and withdrawn in `msg` (see [`for_each_evpn_nlri`]).
pub fn count_evpn_nlri(msg: &[u8]) -> Option<(u64, u64)> {
    let (mut a, mut w) = (0, 0);
    for_each_mp_field(msg, |family, announced, field| {
        if family == Family::L2VPN_EVPN {
            let n = count_evpn_field(field)?;
            if announced {
                a += n;
            } else {
                w += n;
            }
        }
        Some(())
    })?;
    Some((a, w))
}

/// The number of EVPN NLRI (RFC 7432 §7: type, length, value) that fill `field` exactly;
/// `None` when the last overruns it. The common case, a run of NLRI of one length (a
/// generator's routes of one kind), is checked at stride: each step's position does not
/// wait for the previous NLRI's length byte to load, which makes a counting sink several
/// times cheaper than the plain walk.
fn count_evpn_field(field: &[u8]) -> Option<u64> {
    let mut pos = 0usize;
    let mut n = 0u64;
    while pos < field.len() {
        let len = 2 + usize::from(*field.get(pos + 1)?);
        pos += len;
        n += 1;
        // The same length again and again: positions at a fixed stride.
        let same = u8::try_from(len - 2).ok()?;
        while pos + len <= field.len() && field[pos + 1] == same {
            pos += len;
            n += 1;
        }
    }
    (pos == field.len()).then_some(n)
}

/// A 64-bit digest of an NLRI's wire bytes, the key of `Tracking::Keys` (FastHasher plus a
/// final avalanche so keys differing in a few bits spread over the whole word).
pub fn nlri_key(nlri_bytes: &[u8]) -> u64 {
    let mut h = FastHasher::default();
    h.write(nlri_bytes);
    h.write_usize(nlri_bytes.len());
    let mut x = h.finish();
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^ (x >> 33)
}

/// The set of [`nlri_key`]s a `Tracking::Keys` session holds.
pub type KeySet = std::collections::HashSet<u64, BuildHasherDefault<FastHasher>>;

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::routes::{generate, RouteKind};
    use std::net::Ipv4Addr;

    #[test]
    fn count_evpn_nlri_rejects_overruns() {
        let ctx = CodecContext::default();
        let vtep = Ipv4Addr::new(198, 19, 0, 1);
        let routes = generate(RouteKind::Mac, 5, 1, vtep).unwrap();
        let (bytes, n) =
            crate::routes::encode_announcements(&ctx, RouteKind::Mac, &routes, vtep, 65000)
                .unwrap();
        assert_eq!(n, 1);
        assert_eq!(count_evpn_nlri(&bytes), Some((5, 0)));
        // The last route's length byte claims one byte more than its MP_REACH_NLRI holds.
        let mut enc = Vec::new();
        routes[4].encode(&mut enc);
        let at = bytes
            .windows(enc.len())
            .position(|w| w == enc.as_slice())
            .unwrap();
        let mut bad = bytes.clone();
        bad[at + 1] += 1;
        assert_eq!(count_evpn_nlri(&bad), None);
        assert_eq!(count_evpn_nlri(&bytes[..30]), None);
    }

    /// The plain walk, for comparison.
    fn walk_count(field: &[u8]) -> Option<u64> {
        let (mut pos, mut n) = (0, 0);
        while pos < field.len() {
            pos += 2 + usize::from(*field.get(pos + 1)?);
            n += 1;
        }
        (pos == field.len()).then_some(n)
    }

    #[test]
    fn the_strided_count_agrees_with_the_plain_walk() {
        // Runs of NLRI of a few lengths, in pseudo-random order and run lengths, each field
        // also cut short at every position near its end.
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..300 {
            let mut field = Vec::new();
            let mut expected = 0u64;
            for _ in 0..next() % 6 {
                let len = [0u8, 1, 33, 37, 49, 255][(next() % 6) as usize];
                for _ in 0..1 + next() % 20 {
                    field.push(2);
                    field.push(len);
                    field.extend(std::iter::repeat_n(0xab, usize::from(len)));
                    expected += 1;
                }
            }
            assert_eq!(count_evpn_field(&field), Some(expected));
            for cut in 1..field.len().min(300) {
                let short = &field[..field.len() - cut];
                assert_eq!(count_evpn_field(short), walk_count(short), "cut {cut}");
            }
        }
    }
}
