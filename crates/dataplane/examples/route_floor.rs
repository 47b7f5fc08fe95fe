//! The kernel's floor for installing VRF routes: how fast can any program put N routes
//! `PREFIX via VTEP dev br<L3VNI> onlink proto 235 table T` into Linux, with nothing else to do?
//! The figure evpnd's Linux backend is measured against for type-5 routes (RFC 9136) in a
//! tenant VRF (issue 11, "Benchmark").
//!
//! In a network namespace of its own (the namespace-per-VRF model's VRF, unless `--inside`),
//! it creates the L3VNI's devices the way evpnd does (`br<L3VNI>`, `vx<L3VNI> id L3VNI local
//! VTEP dstport 4789 nolearning`, enslaved, up) and the remote VTEP's permanent neighbour on
//! the bridge, then sends N `RTM_NEWROUTE` (`NLM_F_CREATE | NLM_F_REPLACE`, `RTA_DST`,
//! `RTA_GATEWAY` = the remote VTEP, `RTA_OIF` = the bridge, `RTNH_F_ONLINK`, `RTA_TABLE`,
//! protocol 235), pipelined as evpnd writes: as many messages per `sendmsg` as `--chunk` bytes
//! hold (default 16 KiB), only the last of each chunk asking for an ACK. `--ack-each`: one
//! message per `sendmsg`, each acknowledged.
//!
//! Prefixes: `--family 4` (default) /32s from 198.18.1.0 upwards, skipping 198.19.0.0/24
//! (the lab's VTEP loopbacks; 100 k fit in 198.18.0.0/15); `--family 6` the /128s the
//! type-5 benchmark's generator announces (2001:db8:a100:0::, 2001:db8:a100:1::, …, the next
//! 65 536 in 2001:db8:a101::/48; at most 2^24).
//!
//! ```sh
//! cargo run --release -p evpnd-dataplane --example route_floor -- --entries 100000
//! ```
//!
//! Output: one line of JSON in `fdb_floor`'s format (`mode`, `entries`, `messages`,
//! `sendmsg`, `chunk_bytes`, `seconds`, `entries_per_sec`, `verified`). Needs root.

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP,
    NLM_F_REPLACE, NLM_F_REQUEST,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteFlags, RouteHeader, RouteMessage, RouteProtocol, RouteScope,
    RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::process::Command;
use std::time::Instant;

type Error = Box<dyn std::error::Error>;

/// evpnd's route protocol number (`evpnd_dataplane::linux::EVPND_ROUTE_PROTOCOL`).
const PROTOCOL: u8 = 235;

/// What to run, from the command line.
#[derive(Clone, Debug)]
struct Options {
    entries: u32,
    chunk: usize,
    ack_each: bool,
    family: u8,
    table: u32,
    l3vni: u32,
    vtep: Ipv4Addr,
    remote: Ipv4Addr,
    inside: bool,
}

const USAGE: &str = "route_floor [--entries N] [--chunk BYTES] [--ack-each] [--family 4|6] \
                     [--table T] [--l3vni V] [--vtep A] [--remote A] [--inside]";

fn parse_args() -> Result<Options, Error> {
    let mut o = Options {
        entries: 100_000,
        chunk: 16 * 1024,
        ack_each: false,
        family: 4,
        table: 254,
        l3vni: 5000,
        vtep: Ipv4Addr::new(198, 18, 0, 1),
        remote: Ipv4Addr::new(198, 18, 0, 2),
        inside: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = || {
            it.next()
                .ok_or_else(|| format!("{a} needs a value\n{USAGE}"))
        };
        match a.as_str() {
            "--entries" => o.entries = value()?.parse()?,
            "--chunk" => o.chunk = value()?.parse()?,
            "--family" => o.family = value()?.parse()?,
            "--table" => o.table = value()?.parse()?,
            "--l3vni" => o.l3vni = value()?.parse()?,
            "--vtep" => o.vtep = value()?.parse()?,
            "--remote" => o.remote = value()?.parse()?,
            "--ack-each" => o.ack_each = true,
            "--inside" => o.inside = true,
            _ => return Err(format!("unknown argument {a}\n{USAGE}").into()),
        }
    }
    if o.family != 4 && o.family != 6 {
        return Err(format!("--family is 4 or 6\n{USAGE}").into());
    }
    if o.family == 4 && o.entries > 130_000 {
        return Err("--family 4 holds at most 130000 prefixes in 198.18.0.0/15".into());
    }
    if o.family == 6 && o.entries > 1 << 24 {
        return Err("--family 6 holds at most 2^24 prefixes".into());
    }
    Ok(o)
}

fn run(cmd: &[&str]) -> Result<(), Error> {
    let st = Command::new(cmd[0]).args(&cmd[1..]).status()?;
    if !st.success() {
        return Err(format!("`{}` failed: {st}", cmd.join(" ")).into());
    }
    Ok(())
}

fn main() {
    if let Err(e) = real_main() {
        eprintln!("route_floor: {e}");
        std::process::exit(1);
    }
}

fn real_main() -> Result<(), Error> {
    let o = parse_args()?;
    if o.inside {
        return measure(&o);
    }
    // Our own namespace: re-run this program inside it, then delete it whatever happened.
    let ns = format!("evl-{}-rfloor", std::process::id());
    run(&["ip", "netns", "add", &ns])?;
    let result = (|| -> Result<(), Error> {
        run(&["ip", "-n", &ns, "link", "set", "lo", "up"])?;
        let vtep = format!("{}/32", o.vtep);
        run(&["ip", "-n", &ns, "addr", "add", &vtep, "dev", "lo"])?;
        let me = std::env::current_exe()?;
        let me = me.to_string_lossy();
        let mut args: Vec<String> = std::env::args().skip(1).collect();
        args.push("--inside".into());
        let mut cmd = vec!["ip", "netns", "exec", &ns, &me];
        cmd.extend(args.iter().map(String::as_str));
        run(&cmd)
    })();
    let deleted = run(&["ip", "netns", "del", &ns]);
    result.and(deleted)
}

/// Creates `br<L3VNI>` and `vx<L3VNI>` like evpnd and the remote VTEP's neighbours; returns
/// the bridge's ifindex.
fn setup(o: &Options) -> Result<u32, Error> {
    let (br, vx) = (format!("br{}", o.l3vni), format!("vx{}", o.l3vni));
    let (vni, local, remote) = (
        o.l3vni.to_string(),
        o.vtep.to_string(),
        o.remote.to_string(),
    );
    run(&["ip", "link", "add", &br, "type", "bridge"])?;
    run(&[
        "ip",
        "link",
        "add",
        &vx,
        "type",
        "vxlan",
        "id",
        &vni,
        "local",
        &local,
        "dstport",
        "4789",
        "nolearning",
    ])?;
    run(&["ip", "link", "set", &vx, "master", &br, "up"])?;
    run(&["ip", "link", "set", &br, "up"])?;
    let mapped = format!("::ffff:{remote}");
    for ip in [remote.as_str(), mapped.as_str()] {
        run(&[
            "ip",
            "neigh",
            "replace",
            ip,
            "lladdr",
            "02:00:c6:12:00:02",
            "dev",
            &br,
            "nud",
            "permanent",
        ])?;
    }
    let probe = rustix::net::socket(
        rustix::net::AddressFamily::INET,
        rustix::net::SocketType::DGRAM,
        None,
    )?;
    Ok(rustix::net::netdevice::name_to_index(&probe, &br)?)
}

/// The i-th prefix (see the module notes).
fn prefix(family: u8, i: u32) -> (IpAddr, u8) {
    if family == 6 {
        // The benchmark generator's prefixes (`evpnd_lab::routes::vrf_prefixes`, generator 1):
        // the index's low 16 bits in the fourth group, the rest in the third, so that the
        // kernel's tree holds exactly the routes evpnd is given.
        let third = 0xa100 | ((i >> 16) & 0xff) as u16;
        let fourth = (i & 0xffff) as u16;
        let a = Ipv6Addr::new(0x2001, 0xdb8, third, fourth, 0, 0, 0, 0);
        return (IpAddr::V6(a), 128);
    }
    let base = u32::from(Ipv4Addr::new(198, 18, 1, 0));
    let mut a = base + i;
    if a >= u32::from(Ipv4Addr::new(198, 19, 0, 0)) {
        a += 256;
    }
    (IpAddr::V4(Ipv4Addr::from(a)), 32)
}

/// One route as an `RTM_NEWROUTE`, the attributes evpnd's backend sends.
fn route_message(
    o: &Options,
    bridge: u32,
    i: u32,
    seq: u32,
    ack: bool,
) -> NetlinkMessage<RouteNetlinkMessage> {
    let (dst, len) = prefix(o.family, i);
    let mut m = RouteMessage::default();
    m.header = RouteHeader {
        address_family: if o.family == 6 {
            AddressFamily::Inet6
        } else {
            AddressFamily::Inet
        },
        destination_prefix_length: len,
        table: u8::try_from(o.table).unwrap_or(0),
        protocol: RouteProtocol::from(PROTOCOL),
        scope: RouteScope::Universe,
        kind: RouteType::Unicast,
        flags: RouteFlags::Onlink,
        ..RouteHeader::default()
    };
    m.attributes
        .push(RouteAttribute::Destination(RouteAddress::from(dst)));
    m.attributes.push(RouteAttribute::Table(o.table));
    let gateway = if o.family == 6 {
        RouteAddress::Inet6(o.remote.to_ipv6_mapped())
    } else {
        RouteAddress::Inet(o.remote)
    };
    m.attributes.push(RouteAttribute::Gateway(gateway));
    m.attributes.push(RouteAttribute::Oif(bridge));
    let mut h = NetlinkHeader::default();
    h.flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_REPLACE | if ack { NLM_F_ACK } else { 0 };
    h.sequence_number = seq;
    let mut msg = NetlinkMessage::new(h, NetlinkPayload::from(RouteNetlinkMessage::NewRoute(m)));
    msg.finalize();
    msg
}

fn socket() -> Result<Socket, Error> {
    let mut s = Socket::new(NETLINK_ROUTE)?;
    s.bind_auto()?;
    s.connect(&SocketAddr::new(0, 0))?;
    // Room for a whole chunk in one sendmsg and for every reply (root may exceed the sysctls).
    rustix::net::sockopt::set_socket_send_buffer_size_force(&s, 64 << 20)?;
    rustix::net::sockopt::set_socket_recv_buffer_size_force(&s, 64 << 20)?;
    Ok(s)
}

/// Reads replies until the ACK of `seq`; any error reply fails the run.
fn wait_ack(s: &Socket, buf: &mut Vec<u8>, seq: u32) -> Result<(), Error> {
    loop {
        buf.clear();
        let n = s.recv(buf, 0)?;
        let mut off = 0;
        while off < n {
            let msg = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&buf[off..n])?;
            let len = msg.header.length as usize;
            if len == 0 {
                return Err("zero-length netlink message".into());
            }
            if let NetlinkPayload::Error(e) = &msg.payload {
                if let Some(code) = e.code {
                    return Err(format!(
                        "kernel refused message {}: {}",
                        msg.header.sequence_number,
                        std::io::Error::from_raw_os_error(-code.get())
                    )
                    .into());
                }
                if msg.header.sequence_number == seq {
                    return Ok(());
                }
            }
            off += (len + 3) & !3;
        }
    }
}

/// Counts our routes (protocol 235) in the table in a dump.
fn count_routes(s: &Socket, o: &Options) -> Result<usize, Error> {
    let mut m = RouteMessage::default();
    m.header.address_family = if o.family == 6 {
        AddressFamily::Inet6
    } else {
        AddressFamily::Inet
    };
    let mut h = NetlinkHeader::default();
    h.flags = NLM_F_REQUEST | NLM_F_DUMP;
    h.sequence_number = u32::MAX;
    let mut req = NetlinkMessage::new(h, NetlinkPayload::from(RouteNetlinkMessage::GetRoute(m)));
    req.finalize();
    let mut out = vec![0; req.buffer_len()];
    req.serialize(&mut out);
    s.send(&out, 0)?;
    let mut count = 0;
    let mut buf = Vec::with_capacity(1 << 20);
    loop {
        buf.clear();
        let n = s.recv(&mut buf, 0)?;
        let mut off = 0;
        while off < n {
            let msg = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&buf[off..n])?;
            let len = msg.header.length as usize;
            match msg.payload {
                NetlinkPayload::Done(_) => return Ok(count),
                NetlinkPayload::Error(e) if e.code.is_some() => {
                    return Err(format!("route dump: {}", e.to_io()).into())
                }
                NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewRoute(rm)) => {
                    let table = rm
                        .attributes
                        .iter()
                        .find_map(|a| match a {
                            RouteAttribute::Table(t) => Some(*t),
                            _ => None,
                        })
                        .unwrap_or(u32::from(rm.header.table));
                    count +=
                        usize::from(u8::from(rm.header.protocol) == PROTOCOL && table == o.table);
                }
                _ => {}
            }
            if len == 0 {
                return Err("zero-length netlink message".into());
            }
            off += (len + 3) & !3;
        }
    }
}

fn measure(o: &Options) -> Result<(), Error> {
    let bridge = setup(o)?;
    let s = socket()?;
    // Encode everything first: the floor measures the kernel, not our encoder.
    let total = o.entries as usize;
    let mut msgs: Vec<Vec<u8>> = Vec::with_capacity(total);
    for i in 0..o.entries {
        let seq = i + 1;
        let m = route_message(o, bridge, i, seq, o.ack_each || seq == o.entries);
        let mut b = vec![0; m.buffer_len()];
        m.serialize(&mut b);
        msgs.push(b);
    }
    let mut chunks: Vec<(Vec<u8>, u32)> = Vec::new();
    if o.ack_each {
        for (i, m) in msgs.into_iter().enumerate() {
            chunks.push((m, i as u32 + 1));
        }
    } else {
        let mut cur = Vec::with_capacity(o.chunk);
        for (i, m) in msgs.iter().enumerate() {
            let seq = i as u32 + 1;
            let last = i + 1 == msgs.len();
            cur.extend_from_slice(m);
            if cur.len() + m.len() > o.chunk || last {
                // The chunk's last message asks for the ACK (flags at offset 6).
                let at = cur.len() - m.len() + 6;
                let flags = u16::from_ne_bytes([cur[at], cur[at + 1]]) | NLM_F_ACK;
                cur[at..at + 2].copy_from_slice(&flags.to_ne_bytes());
                chunks.push((std::mem::take(&mut cur), seq));
            }
        }
    }
    let mut buf = Vec::with_capacity(1 << 20);
    let t0 = Instant::now();
    for (bytes, last_seq) in &chunks {
        let sent = s.send(bytes, 0)?;
        if sent != bytes.len() {
            return Err(format!("short send: {sent} of {}", bytes.len()).into());
        }
        wait_ack(&s, &mut buf, *last_seq)?;
    }
    let seconds = t0.elapsed().as_secs_f64();
    let found = count_routes(&s, o)?;
    let mode = if o.ack_each { "ack-each" } else { "batched" };
    println!(
        "{{\"mode\":\"{mode}\",\"family\":{},\"entries\":{},\"messages\":{total},\"sendmsg\":{},\
         \"chunk_bytes\":{},\"seconds\":{seconds:.6},\"entries_per_sec\":{:.0},\
         \"verified\":{}}}",
        o.family,
        o.entries,
        chunks.len(),
        if o.ack_each { 0 } else { o.chunk },
        f64::from(o.entries) / seconds.max(1e-9),
        found == total
    );
    if found != total {
        return Err(format!("the kernel holds {found} of our routes, not {total}").into());
    }
    Ok(())
}
