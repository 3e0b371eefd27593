//! The fence: which addresses a task may connect to on a site's behalf.
//!
//! A site is untrusted input: its links, redirects, frames and scripts can
//! point anywhere, the platform's own network included (the cloud's metadata
//! service at 169.254.169.254, other apps' internal routes, this container's
//! loopback), and whatever a task fetches may end up in the report it
//! uploads. So every request made for a site (the crawler's, the example
//! task's, the browser's through tasks/a11y/proxy.rs) connects only to
//! addresses [`Fence::allows`]. The check is made on the addresses connected
//! to, after the name was resolved, never on a name: there is no second
//! resolution that a DNS answer changing between check and use could slip
//! through.
//!
//! A deployed run (DEPLOY_ENV set) reaches no [`internal`] address at all. A
//! local run whose target is on loopback (`http://127.0.0.1:8080/`, or a name
//! such as `localhost` that resolves only to loopback addresses) may reach
//! exactly that target, its addresses at its port, and nothing else internal.
//! A target the fence leaves no address of fails the run at once.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};

use ureq::Agent;
use ureq::config::Config;
use ureq::http::Uri;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::NextTimeout;
use url::Url;

use crate::error::{Error, Result};

/// Which addresses requests for a site may connect to: every address but the
/// [`internal`] ones, except the few internal ones a local run is given.
#[derive(Clone, Debug, Default)]
pub struct Fence {
    /// Internal addresses allowed all the same, each at one port: a local
    /// run's loopback target, or a test's loopback servers.
    exceptions: Vec<SocketAddr>,
}

/// Why the fence gave no address to connect to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Blocked {
    /// The name did not resolve (the resolver's words).
    Unresolved(String),
    /// Every address it resolves to is internal, and none is an exception.
    Internal,
}

impl Fence {
    /// No internal address at all: a deployed run's fence.
    pub fn closed() -> Fence {
        Fence::default()
    }

    /// The fence of a run of `target`, deployed or local, or an error when it
    /// would leave none of the target's addresses (a deployed run of a target
    /// on a private network, say), or the target's host does not resolve.
    pub fn for_run(deployed: bool, target: &Url) -> Result<Fence> {
        let (host, addrs) = origin(target)?;
        let fence = if !deployed && addrs.iter().all(|a| a.ip().is_loopback()) {
            Fence { exceptions: addrs.clone() }
        } else {
            Fence::closed()
        };
        if !addrs.iter().any(|a| fence.allows(*a)) {
            let listed: Vec<String> = addrs.iter().take(4).map(|a| a.ip().to_string()).collect();
            let rule = if deployed {
                "a deployed run reaches no internal address"
            } else {
                "a local run reaches an internal address only when the target is on loopback"
            };
            return Err(Error::failed(format!(
                "the target {host} resolves only to internal addresses ({}): {rule}",
                listed.join(", ")
            )));
        }
        Ok(fence)
    }

    /// A fence that also lets through the origins of `urls` (their host's
    /// addresses at their port), each of which must be on loopback: for tests
    /// and benches, whose sites are loopback servers, some serving another
    /// origin's frames.
    pub fn with_loopback(urls: &[&str]) -> Result<Fence> {
        let mut exceptions = Vec::new();
        for text in urls {
            let url = Url::parse(text).map_err(|e| Error::usage(format!("{text} is not a URL: {e}")))?;
            let (host, addrs) = origin(&url)?;
            if !addrs.iter().all(|a| a.ip().is_loopback()) {
                return Err(Error::usage(format!("{host} is not on loopback")));
            }
            exceptions.extend(addrs);
        }
        Ok(Fence { exceptions })
    }

    /// Whether a connection to `addr` may be made.
    pub fn allows(&self, addr: SocketAddr) -> bool {
        !internal(addr.ip()) || self.exceptions.contains(&addr)
    }

    /// The addresses of `host` (a name or an IP address, IPv6 in brackets or
    /// not) at `port` that the fence allows, in the resolver's order: the
    /// only addresses to connect to for it.
    pub fn resolve(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, Blocked> {
        let all = lookup(host, port).map_err(Blocked::Unresolved)?;
        let allowed: Vec<SocketAddr> = all.into_iter().filter(|a| self.allows(*a)).collect();
        if allowed.is_empty() { Err(Blocked::Internal) } else { Ok(allowed) }
    }

    /// An agent with `base`'s settings whose every connection goes through
    /// the fence: its resolver leaves out the addresses the fence refuses,
    /// and the connector connects to what it returned. Redirects resolve
    /// through it too. An agent that would go through a proxy (ureq takes one
    /// from ALL_PROXY, HTTPS_PROXY or HTTP_PROXY) is refused: the proxy would
    /// make the connection, out of the fence's sight. (ureq's resolver and
    /// connector types are its "unversioned" API: a ureq upgrade may need
    /// this adjusted.)
    pub fn agent(&self, base: &Agent) -> Result<Agent> {
        if base.config().proxy().is_some() {
            return Err(Error::failed(PROXY_SET));
        }
        Ok(Agent::with_parts(
            base.config().clone(),
            crate::http::connector(),
            Fenced { fence: self.clone(), inner: DefaultResolver::default() },
        ))
    }
}

const PROXY_SET: &str = "a proxy is set (ALL_PROXY, HTTPS_PROXY or HTTP_PROXY): the site is not fetched through one, \
                         since it would connect where the fence cannot check; unset it";

/// The resolver of [`Fence::agent`].
#[derive(Debug)]
struct Fenced {
    fence: Fence,
    inner: DefaultResolver,
}

impl Resolver for Fenced {
    fn resolve(&self, uri: &Uri, config: &Config, timeout: NextTimeout) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let refused = |why: String| ureq::Error::Io(std::io::Error::new(std::io::ErrorKind::PermissionDenied, why));
        // A request's own config may add a proxy; the name resolved would be
        // the proxy's.
        if config.proxy().is_some() {
            return Err(refused(PROXY_SET.to_owned()));
        }
        let all = self.inner.resolve(uri, config, timeout)?;
        let mut allowed = self.empty();
        for addr in all.iter().filter(|a| self.fence.allows(**a)) {
            let _ = allowed.try_push(*addr);
        }
        if allowed.is_empty() {
            let host = uri.host().unwrap_or("");
            return Err(refused(format!("{host} resolves only to internal addresses, which the fence refuses")));
        }
        Ok(allowed)
    }
}

/// The host of `url` and its addresses at the URL's port.
fn origin(url: &Url) -> Result<(String, Vec<SocketAddr>)> {
    let host = url.host_str().unwrap_or("").to_owned();
    let port = url.port_or_known_default().unwrap_or(80);
    let addrs = lookup(&host, port).map_err(|e| Error::failed(format!("cannot resolve {host}: {e}")))?;
    Ok((host, addrs))
}

/// The addresses of `host` at `port`: an IP address as it is, a name as the
/// system resolves it.
fn lookup(host: &str, port: u16) -> std::result::Result<Vec<SocketAddr>, String> {
    let bare = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    if bare.is_empty() {
        return Err("no host".to_owned());
    }
    let addrs: Vec<SocketAddr> = (bare, port).to_socket_addrs().map_err(|e| e.to_string())?.collect();
    if addrs.is_empty() { Err("no address".to_owned()) } else { Ok(addrs) }
}

/// Whether `ip` is an address a site must not make us reach: anything not
/// globally reachable. IPv4: this network 0/8 (0.0.0.0 included), private
/// 10/8, 172.16/12 and 192.168/16, CGNAT 100.64/10, loopback 127/8,
/// link-local 169.254/16 (the metadata service 169.254.169.254 included),
/// IETF protocol assignments 192.0.0/24, benchmarking 198.18/15, multicast
/// 224/4, reserved 240/4 (broadcast included). IPv6: unspecified, loopback,
/// unique-local fc00::/7, link-local fe80::/10, site-local fec0::/10,
/// multicast ff00::/8, local-use NAT64 64:ff9b:1::/48, and every form that
/// carries an IPv4 address (mapped ::ffff:0:0/96, compatible ::/96, NAT64
/// 64:ff9b::/96, 6to4 2002::/16) when that address is internal. The
/// documentation ranges (192.0.2/24, 198.51.100/24, 203.0.113/24,
/// 2001:db8::/32) count as public: the tests put "public" sites there,
/// inside network namespaces of their own.
pub fn internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => internal_v4(v4),
        IpAddr::V6(v6) => internal_v6(v6),
    }
}

fn internal_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    a == 0
        || a == 10
        || a == 127
        || (a == 100 && (64..128).contains(&b))
        || (a == 169 && b == 254)
        || (a == 172 && (16..32).contains(&b))
        || (a == 192 && b == 168)
        || (a == 192 && b == 0 && c == 0)
        || (a == 198 && (18..20).contains(&b))
        || a >= 224
}

fn internal_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    let embedded = |hi: u16, lo: u16| internal_v4(Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo)));
    match s {
        // ::ffff:a.b.c.d and ::a.b.c.d (:: and ::1 among them, as 0.0.0.0 and 0.0.0.1).
        [0, 0, 0, 0, 0, 0xffff, hi, lo] | [0, 0, 0, 0, 0, 0, hi, lo] => embedded(hi, lo),
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => embedded(hi, lo),
        [0x64, 0xff9b, 1, ..] => true,
        [0x2002, hi, lo, ..] => embedded(hi, lo),
        [first, ..] => {
            (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || (first & 0xffc0) == 0xfec0
                || (first & 0xff00) == 0xff00
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn internal_addresses_are_recognised_in_every_form() {
        for addr in [
            "127.0.0.1",
            "127.255.0.9",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.254",
            "0.0.0.0",
            "0.1.2.3",
            "192.0.0.170",
            "198.18.0.1",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "fe80::1",
            "fd00::1",
            "fc00::1",
            "fec0::1",
            "ff02::1",
            "::ffff:10.0.0.1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::169.254.169.254",
            "::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b::7f00:1",
            "64:ff9b:1::8.8.8.8",
            "2002:a9fe:a9fe::",
            "2002:a00:1::1",
        ] {
            assert!(internal(ip(addr)), "{addr} is internal");
        }
        for addr in [
            "8.8.8.8",
            "1.1.1.1",
            "172.32.0.1",
            "172.15.255.255",
            "100.63.255.255",
            "100.128.0.1",
            "169.253.1.1",
            "192.0.2.1",
            "198.51.100.7",
            "203.0.113.7",
            "192.169.0.1",
            "223.255.255.255",
            "2001:4860:4860::8888",
            "2001:db8::1",
            "::ffff:8.8.8.8",
            "::ffff:203.0.113.7",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ] {
            assert!(!internal(ip(addr)), "{addr} is public");
        }
    }

    #[test]
    fn a_deployed_run_allows_no_internal_address_and_refuses_an_internal_target() {
        let target = Url::parse("http://127.0.0.1:8080/").unwrap();
        let err = Fence::for_run(true, &target).unwrap_err();
        assert_eq!(
            err.message(),
            "the target 127.0.0.1 resolves only to internal addresses (127.0.0.1): a deployed run reaches no \
             internal address"
        );
        assert_eq!(err.exit_code(), 1);
        let err = Fence::for_run(false, &Url::parse("https://10.0.0.5/").unwrap()).unwrap_err();
        assert!(err.message().contains("only when the target is on loopback"), "{err}");
        let public = Fence::for_run(true, &Url::parse("https://203.0.113.7/site/").unwrap()).unwrap();
        assert!(public.allows("203.0.113.7:443".parse().unwrap()));
        assert!(!public.allows("127.0.0.1:8080".parse().unwrap()));
    }

    #[test]
    fn a_local_run_of_a_loopback_target_reaches_that_target_and_nothing_else_internal() {
        let fence = Fence::for_run(false, &Url::parse("http://127.0.0.1:8080/site/").unwrap()).unwrap();
        assert!(fence.allows("127.0.0.1:8080".parse().unwrap()));
        for refused in ["127.0.0.1:8081", "127.0.0.2:8080", "[::1]:8080", "169.254.169.254:80", "10.0.0.1:8080"] {
            assert!(!fence.allows(refused.parse().unwrap()), "{refused}");
        }
        assert!(fence.allows("8.8.8.8:53".parse().unwrap()));
        let fence = Fence::for_run(false, &Url::parse("http://[::1]/").unwrap()).unwrap();
        assert!(fence.allows("[::1]:80".parse().unwrap()));
        assert!(!fence.allows("127.0.0.1:80".parse().unwrap()));
    }

    #[test]
    fn the_fence_refuses_the_metadata_service_before_any_connection() {
        let fence = Fence::closed();
        for host in ["169.254.169.254", "[::ffff:169.254.169.254]", "::ffff:a9fe:a9fe", "[64:ff9b::a9fe:a9fe]"] {
            assert_eq!(fence.resolve(host, 80), Err(Blocked::Internal), "{host}");
        }
        assert_eq!(fence.resolve("203.0.113.7", 443), Ok(vec!["203.0.113.7:443".parse().unwrap()]));
        assert!(matches!(fence.resolve("", 80), Err(Blocked::Unresolved(_))));
    }

    #[test]
    fn only_loopback_origins_can_be_let_through() {
        let fence = Fence::with_loopback(&["http://127.0.0.1:9/", "http://[::1]:10/x"]).unwrap();
        assert!(fence.allows("127.0.0.1:9".parse().unwrap()));
        assert!(fence.allows("[::1]:10".parse().unwrap()));
        assert!(!fence.allows("127.0.0.1:10".parse().unwrap()));
        let err = Fence::with_loopback(&["http://10.0.0.1:9/"]).unwrap_err();
        assert_eq!(err.message(), "10.0.0.1 is not on loopback");
    }

    #[test]
    fn a_fenced_agent_never_connects_to_an_internal_address() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let agent = Fence::closed().agent(&crate::http::agent(&crate::env::Env::default())).unwrap();
        for url in [format!("http://127.0.0.1:{port}/"), format!("http://localhost:{port}/")] {
            let err = agent.get(&url).call().unwrap_err().to_string();
            assert!(err.contains("resolves only to internal addresses"), "{err}");
        }
        assert!(listener.accept().is_err(), "no connection was made");
    }

    #[test]
    fn a_fenced_agent_reaches_its_exception_and_no_other_port() {
        use std::io::{Read, Write};
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf).unwrap();
            s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok").unwrap();
        });
        let fence = Fence::for_run(false, &Url::parse(&format!("http://127.0.0.1:{port}/")).unwrap()).unwrap();
        let agent = fence.agent(&crate::http::agent(&crate::env::Env::default())).unwrap();
        let body = agent.get(&format!("http://127.0.0.1:{port}/")).call().unwrap().into_body().read_to_string();
        assert_eq!(body.unwrap(), "ok");
        server.join().unwrap();
        let other = TcpListener::bind("127.0.0.1:0").unwrap();
        other.set_nonblocking(true).unwrap();
        let err = agent.get(&format!("http://127.0.0.1:{}/", other.local_addr().unwrap().port())).call().unwrap_err();
        assert!(err.to_string().contains("resolves only to internal addresses"), "{err}");
        assert!(other.accept().is_err(), "no connection was made");
    }
}
