//! Capture filters in tcpdump's syntax, compiled for the XDP program.
//!
//! Supported: `host`, `net` (CIDR), `port`, `portrange`, each with an optional `src`, `dst`,
//! `src or dst` or `src and dst`, and an optional `ip`, `ip6`, `tcp` or `udp` in front; `proto`
//! (a number or tcp, udp, icmp, icmp6, gre, sctp, esp, ah), `ip proto`, `ip6 proto`; `ip`, `ip6`,
//! `tcp`, `udp`, `icmp`, `icmp6`; `vlan` and `vlan ID`; `and`/`&&`, `or`/`||`, `not`/`!` and
//! parentheses. As in tcpdump, `and` and `or` bind equally, left to right, and `not` binds
//! tightest. Anything else is rejected with the part that cannot be offloaded named.
//!
//! The compiled form: each distinct test is an atom, a bit of a `u16` (at most 16). Address
//! atoms go into LPM tries, port, protocol and VLAN atoms into arrays indexed by the value, and
//! the expression becomes a truth table over the 2^16 sets of true atoms, which the XDP program
//! indexes with the atoms a packet satisfies.
//!
//! Where the verdict differs from tcpdump's on purpose: the filter always looks at the innermost
//! packet. VLAN tags are skipped (so `tcp port 443` matches tagged traffic, where tcpdump needs
//! `vlan and tcp port 443`), and VXLAN, GENEVE, GRE and ERSPAN are opened (tcpdump filters on the
//! outer headers). `host` and `net` test IP addresses only (tcpdump also tests ARP's).

use std::net::IpAddr;

use capture_common::MAX_FILTER_ATOMS;

/// Why an expression cannot be offloaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("filter '{expression}': {reason}")]
pub struct FilterError {
    /// The expression as given.
    pub expression: String,
    /// What is wrong, naming the part.
    pub reason: String,
}

/// Which address or port of a packet an atom tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// The source.
    Src,
    /// The destination.
    Dst,
    /// Either of them.
    Either,
}

/// One test the XDP program can make.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Atom {
    /// The address lies in `prefix`/`len`.
    Address {
        /// Network address (host bits zero).
        prefix: IpAddr,
        /// Prefix length in bits.
        len: u8,
        /// Which address.
        direction: Direction,
    },
    /// A TCP or UDP port in `low..=high`.
    Port {
        /// Lowest port.
        low: u16,
        /// Highest port.
        high: u16,
        /// Which port.
        direction: Direction,
    },
    /// The (innermost) IP protocol number.
    Protocol(u8),
    /// An IPv4 packet.
    Ipv4,
    /// An IPv6 packet.
    Ipv6,
    /// A VLAN-tagged frame.
    AnyVlan,
    /// The outer VLAN id.
    Vlan(u16),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Expr {
    Atom(usize),
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
}

impl Expr {
    fn eval(&self, atoms: u32) -> bool {
        match self {
            Self::Atom(i) => atoms >> i & 1 != 0,
            Self::Not(e) => !e.eval(atoms),
            Self::And(a, b) => a.eval(atoms) && b.eval(atoms),
            Self::Or(a, b) => a.eval(atoms) || b.eval(atoms),
        }
    }
}

/// A compiled filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    atoms: Vec<Atom>,
    expr: Expr,
}

fn protocol_number(name: &str) -> Option<u8> {
    Some(match name {
        "icmp" => 1,
        "igmp" => 2,
        "tcp" => 6,
        "udp" => 17,
        "gre" => 47,
        "esp" => 50,
        "ah" => 51,
        "icmp6" => 58,
        "sctp" => 132,
        n => n.parse().ok()?,
    })
}

struct Parser<'a> {
    tokens: Vec<&'a str>,
    at: usize,
    atoms: Vec<Atom>,
    expression: &'a str,
}

fn tokenize(text: &str) -> Vec<&str> {
    let mut tokens = Vec::new();
    let mut start = None;
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let single = matches!(c, b'(' | b')' | b'!');
        let double = (c == b'&' || c == b'|') && bytes.get(i + 1) == Some(&c);
        if c.is_ascii_whitespace() || single || double {
            if let Some(s) = start.take() {
                tokens.push(&text[s..i]);
            }
            if single {
                tokens.push(&text[i..=i]);
            } else if double {
                tokens.push(&text[i..i + 2]);
                i += 1;
            }
        } else if start.is_none() {
            start = Some(i);
        }
        i += 1;
    }
    if let Some(s) = start {
        tokens.push(&text[s..]);
    }
    tokens
}

impl<'a> Parser<'a> {
    fn error(&self, reason: impl Into<String>) -> FilterError {
        FilterError {
            expression: self.expression.to_string(),
            reason: reason.into(),
        }
    }

    fn peek(&self) -> Option<&'a str> {
        self.tokens.get(self.at).copied()
    }

    fn next(&mut self) -> Option<&'a str> {
        let t = self.peek();
        self.at += usize::from(t.is_some());
        t
    }

    fn atom(&mut self, atom: Atom) -> Result<Expr, FilterError> {
        if let Some(i) = self.atoms.iter().position(|a| *a == atom) {
            return Ok(Expr::Atom(i));
        }
        if self.atoms.len() == MAX_FILTER_ATOMS {
            return Err(self.error(format!(
                "more than {MAX_FILTER_ATOMS} distinct tests; the XDP program evaluates at most {MAX_FILTER_ATOMS}"
            )));
        }
        self.atoms.push(atom);
        Ok(Expr::Atom(self.atoms.len() - 1))
    }

    fn expr(&mut self) -> Result<Expr, FilterError> {
        let mut left = self.unary()?;
        loop {
            match self.peek() {
                Some("and" | "&&") => {
                    self.next();
                    let right = self.unary()?;
                    left = Expr::And(Box::new(left), Box::new(right));
                }
                Some("or" | "||") => {
                    self.next();
                    let right = self.unary()?;
                    left = Expr::Or(Box::new(left), Box::new(right));
                }
                _ => return Ok(left),
            }
        }
    }

    fn unary(&mut self) -> Result<Expr, FilterError> {
        match self.peek() {
            Some("not" | "!") => {
                self.next();
                Ok(Expr::Not(Box::new(self.unary()?)))
            }
            Some("(") => {
                self.next();
                let e = self.expr()?;
                match self.next() {
                    Some(")") => Ok(e),
                    other => Err(self.error(format!(
                        "expected ')' but found {}",
                        other.map_or("the end".to_string(), |t| format!("'{t}'"))
                    ))),
                }
            }
            _ => self.primitive(),
        }
    }

    fn direction(&mut self) -> Result<Option<(Direction, bool)>, FilterError> {
        let first = match self.peek() {
            Some("src") => Direction::Src,
            Some("dst") => Direction::Dst,
            _ => return Ok(None),
        };
        self.next();
        // `src or dst` / `src and dst`, when followed by the other direction.
        if let (Some(op @ ("or" | "and")), Some(second @ ("src" | "dst"))) = (
            self.tokens.get(self.at).copied(),
            self.tokens.get(self.at + 1).copied(),
        ) {
            if (first == Direction::Src) != (second == "src") {
                self.at += 2;
                return Ok(Some((Direction::Either, op == "and")));
            }
        }
        Ok(Some((first, false)))
    }

    fn value(&mut self, what: &str) -> Result<&'a str, FilterError> {
        self.next()
            .filter(|t| !matches!(*t, "and" | "or" | "not" | "(" | ")" | "!" | "&&" | "||"))
            .ok_or_else(|| self.error(format!("'{what}' needs a value")))
    }

    fn port_number(&self, text: &str) -> Result<u16, FilterError> {
        text.parse().map_err(|_| {
            self.error(format!(
                "'{text}' is not a port number (0-65535; service names are not looked up)"
            ))
        })
    }

    fn primitive(&mut self) -> Result<Expr, FilterError> {
        let Some(word) = self.peek() else {
            return Err(self.error("the expression ends where a test was expected"));
        };
        // Optional protocol qualifier.
        let qualifier = match word {
            "ip" | "ip6" | "tcp" | "udp" | "icmp" | "icmp6" => {
                self.next();
                Some(word)
            }
            _ => None,
        };
        let qualifier_expr = |p: &mut Self| -> Result<Option<Expr>, FilterError> {
            Ok(match qualifier {
                None => None,
                Some("ip") => Some(p.atom(Atom::Ipv4)?),
                Some("ip6") => Some(p.atom(Atom::Ipv6)?),
                Some(name) => Some(p.atom(Atom::Protocol(protocol_number(name).unwrap_or(0)))?),
            })
        };
        let direction = self.direction()?;
        let kind = self.peek();
        let test = match kind {
            Some("host" | "net") => {
                self.next();
                let value = self.value(kind.unwrap_or_default())?;
                let (prefix, len) = self.prefix(value, kind == Some("host"))?;
                if let Some(q) = qualifier {
                    let family_ok = match q {
                        "ip" => prefix.is_ipv4(),
                        "ip6" => prefix.is_ipv6(),
                        _ => false,
                    };
                    if !family_ok {
                        return Err(self.error(format!(
                            "'{q} {}' does not fit the address {value}",
                            kind.unwrap_or_default()
                        )));
                    }
                }
                Some(self.directed(direction, |direction| Atom::Address {
                    prefix,
                    len,
                    direction,
                })?)
            }
            Some("port" | "portrange") => {
                self.next();
                let value = self.value(kind.unwrap_or_default())?;
                let (low, high) = if kind == Some("port") {
                    let p = self.port_number(value)?;
                    (p, p)
                } else {
                    let (a, b) = value.split_once('-').ok_or_else(|| {
                        self.error(format!("portrange '{value}' is not LOW-HIGH"))
                    })?;
                    let (a, b) = (self.port_number(a)?, self.port_number(b)?);
                    (a.min(b), a.max(b))
                };
                if matches!(qualifier, Some("icmp" | "icmp6")) {
                    return Err(
                        self.error(format!("'{}' has no ports", qualifier.unwrap_or_default()))
                    );
                }
                Some(self.directed(direction, |direction| Atom::Port {
                    low,
                    high,
                    direction,
                })?)
            }
            Some("proto") if direction.is_none() => {
                self.next();
                let value = self.value("proto")?;
                let number = protocol_number(value).ok_or_else(|| {
                    self.error(format!("'{value}' is not a protocol number or known name"))
                })?;
                Some(self.atom(Atom::Protocol(number))?)
            }
            Some("vlan") if qualifier.is_none() && direction.is_none() => {
                self.next();
                match self.peek().and_then(|t| t.parse::<u16>().ok()) {
                    Some(id) if id < 4096 => {
                        self.next();
                        Some(self.atom(Atom::Vlan(id))?)
                    }
                    Some(id) => return Err(self.error(format!("VLAN id {id} is above 4095"))),
                    None => Some(self.atom(Atom::AnyVlan)?),
                }
            }
            _ => None,
        };
        let qualified = qualifier_expr(self)?;
        match (qualified, test) {
            (Some(q), Some(t)) => Ok(Expr::And(Box::new(q), Box::new(t))),
            (None, Some(t)) => Ok(t),
            (Some(q), None) if direction.is_none() => Ok(q),
            _ => Err(self.error(match self.peek() {
                Some(t) if t.parse::<IpAddr>().is_ok() || t.parse::<u32>().is_ok() => format!(
                    "'{t}' is a bare value: value lists such as 'host a or b' are not supported; repeat the keyword ('host a or host b')"
                ),
                Some(t) => format!(
                    "'{t}' cannot be offloaded to XDP (supported: host, net, port, portrange, proto, ip, ip6, tcp, udp, icmp, icmp6, vlan, src, dst, and, or, not, parentheses)"
                ),
                None => "the expression ends where a test was expected".to_string(),
            })),
        }
    }

    /// An atom per direction: `src and dst` becomes two atoms joined by `and`.
    fn directed(
        &mut self,
        direction: Option<(Direction, bool)>,
        atom: impl Fn(Direction) -> Atom,
    ) -> Result<Expr, FilterError> {
        match direction {
            None => self.atom(atom(Direction::Either)),
            Some((Direction::Either, true)) => {
                let s = self.atom(atom(Direction::Src))?;
                let d = self.atom(atom(Direction::Dst))?;
                Ok(Expr::And(Box::new(s), Box::new(d)))
            }
            Some((d, _)) => self.atom(atom(d)),
        }
    }

    fn prefix(&self, value: &str, host: bool) -> Result<(IpAddr, u8), FilterError> {
        let (address, len) = match value.split_once('/') {
            Some(_) if host => {
                return Err(self.error(format!(
                    "'host {value}' takes an address; use 'net {value}'"
                )))
            }
            Some((a, l)) => (a, Some(l)),
            None => (value, None),
        };
        let address: IpAddr = address.parse().map_err(|_| {
            self.error(format!(
                "'{address}' is not an IPv4 or IPv6 address (host names are not resolved)"
            ))
        })?;
        let bits: u8 = if address.is_ipv4() { 32 } else { 128 };
        let len = match len {
            Some(l) => l.parse::<u8>().ok().filter(|l| *l <= bits).ok_or_else(|| {
                self.error(format!("'/{l}' is not a prefix length for {address}"))
            })?,
            None => bits,
        };
        let masked = match address {
            IpAddr::V4(a) => {
                let m = if len == 0 {
                    0
                } else {
                    u32::MAX << (32 - u32::from(len))
                };
                IpAddr::from((u32::from(a) & m).to_be_bytes())
            }
            IpAddr::V6(a) => {
                let m = if len == 0 {
                    0
                } else {
                    u128::MAX << (128 - u32::from(len))
                };
                IpAddr::from((u128::from(a) & m).to_be_bytes())
            }
        };
        if masked != address {
            return Err(self.error(format!(
                "'{value}' has host bits set (the network is {masked}/{len})"
            )));
        }
        Ok((address, len))
    }
}

impl Filter {
    /// Compiles a tcpdump-style expression.
    pub fn compile(expression: &str) -> Result<Self, FilterError> {
        let mut p = Parser {
            tokens: tokenize(expression),
            at: 0,
            atoms: Vec::new(),
            expression,
        };
        if p.tokens.is_empty() {
            return Err(p.error("the expression is empty"));
        }
        let expr = p.expr()?;
        if let Some(t) = p.peek() {
            return Err(p.error(format!(
                "'{t}' follows a complete test; join tests with 'and' or 'or' (value lists such as 'host a or b' are not supported)"
            )));
        }
        Ok(Self {
            atoms: p.atoms,
            expr,
        })
    }

    /// The atoms, in bit order.
    #[must_use]
    pub fn atoms(&self) -> &[Atom] {
        &self.atoms
    }

    /// The verdict for a packet satisfying exactly the atoms in `set` (bit i: atom i).
    #[must_use]
    pub fn verdict(&self, set: u16) -> bool {
        self.expr.eval(u32::from(set))
    }

    /// The truth table: bit `s % 64` of word `s / 64` is the verdict for atom set `s`.
    #[must_use]
    pub fn truth_table(&self) -> Vec<u64> {
        let mut words = vec![0u64; (1 << MAX_FILTER_ATOMS) / 64];
        let used = 1u32 << self.atoms.len();
        for set in 0..(1u32 << MAX_FILTER_ATOMS) {
            // Bits above the used atoms are never set by the program; fill them like the rest.
            if self.expr.eval(set % used) {
                words[(set / 64) as usize] |= 1 << (set % 64);
            }
        }
        words
    }

    /// The atoms that test a source (`src`) or destination (`!src`) field, by kind: address atoms
    /// and port atoms.
    #[must_use]
    pub fn direction_masks(&self) -> DirectionMasks {
        let mut m = DirectionMasks::default();
        for (i, atom) in self.atoms.iter().enumerate() {
            let bit = 1u16 << i;
            match atom {
                Atom::Address { direction, .. } => {
                    if *direction != Direction::Dst {
                        m.src_addr |= bit;
                    }
                    if *direction != Direction::Src {
                        m.dst_addr |= bit;
                    }
                }
                Atom::Port { direction, .. } => {
                    if *direction != Direction::Dst {
                        m.src_port |= bit;
                    }
                    if *direction != Direction::Src {
                        m.dst_port |= bit;
                    }
                }
                Atom::Ipv4 => m.ipv4 |= bit,
                Atom::Ipv6 => m.ipv6 |= bit,
                Atom::AnyVlan => m.any_vlan |= bit,
                Atom::Protocol(_) | Atom::Vlan(_) => {}
            }
        }
        m
    }

    /// Entries of an LPM trie for one family: each prefix with the atoms every address under it
    /// satisfies (its own and those of the shorter prefixes that contain it).
    #[must_use]
    pub fn prefixes(&self, ipv6: bool) -> Vec<(IpAddr, u8, u16)> {
        let nets: Vec<(IpAddr, u8, u16)> = self
            .atoms
            .iter()
            .enumerate()
            .filter_map(|(i, a)| match a {
                Atom::Address { prefix, len, .. } if prefix.is_ipv6() == ipv6 => {
                    Some((*prefix, *len, 1u16 << i))
                }
                _ => None,
            })
            .collect();
        let mut out: Vec<(IpAddr, u8, u16)> = Vec::new();
        for &(prefix, len, _) in &nets {
            if out.iter().any(|(p, l, _)| *p == prefix && *l == len) {
                continue;
            }
            let atoms = nets
                .iter()
                .filter(|(p, l, _)| *l <= len && contains(*p, *l, prefix))
                .fold(0, |m, (_, _, bit)| m | bit);
            out.push((prefix, len, atoms));
        }
        out
    }

    /// Port atoms of each port that has any.
    #[must_use]
    pub fn ports(&self) -> Vec<(u16, u16)> {
        let mut table = vec![0u16; 65536];
        for (i, a) in self.atoms.iter().enumerate() {
            if let Atom::Port { low, high, .. } = a {
                for p in *low..=*high {
                    table[usize::from(p)] |= 1 << i;
                }
            }
        }
        (0..=u16::MAX)
            .zip(table)
            .filter(|(_, atoms)| *atoms != 0)
            .collect()
    }

    /// Protocol atoms of each protocol number that has any.
    #[must_use]
    pub fn protocols(&self) -> Vec<(u8, u16)> {
        let mut out: Vec<(u8, u16)> = Vec::new();
        for (i, a) in self.atoms.iter().enumerate() {
            if let Atom::Protocol(p) = a {
                match out.iter_mut().find(|(q, _)| q == p) {
                    Some(e) => e.1 |= 1 << i,
                    None => out.push((*p, 1 << i)),
                }
            }
        }
        out
    }

    /// VLAN-id atoms of each id that has any.
    #[must_use]
    pub fn vlans(&self) -> Vec<(u16, u16)> {
        let mut out: Vec<(u16, u16)> = Vec::new();
        for (i, a) in self.atoms.iter().enumerate() {
            if let Atom::Vlan(id) = a {
                match out.iter_mut().find(|(q, _)| q == id) {
                    Some(e) => e.1 |= 1 << i,
                    None => out.push((*id, 1 << i)),
                }
            }
        }
        out
    }
}

/// Which atoms test which field.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DirectionMasks {
    /// Atoms testing the source address.
    pub src_addr: u16,
    /// Atoms testing the destination address.
    pub dst_addr: u16,
    /// Atoms testing the source port.
    pub src_port: u16,
    /// Atoms testing the destination port.
    pub dst_port: u16,
    /// `ip`.
    pub ipv4: u16,
    /// `ip6`.
    pub ipv6: u16,
    /// `vlan` without an id.
    pub any_vlan: u16,
}

/// Whether `prefix/len` contains `address`.
fn contains(prefix: IpAddr, len: u8, address: IpAddr) -> bool {
    match (prefix, address) {
        (IpAddr::V4(p), IpAddr::V4(a)) => {
            let m = if len == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(len))
            };
            u32::from(p) & m == u32::from(a) & m
        }
        (IpAddr::V6(p), IpAddr::V6(a)) => {
            let m = if len == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(len))
            };
            u128::from(p) & m == u128::from(a) & m
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn atoms_true(f: &Filter, pred: impl Fn(&Atom) -> bool) -> u16 {
        f.atoms()
            .iter()
            .enumerate()
            .filter(|(_, a)| pred(a))
            .fold(0, |m, (i, _)| m | 1 << i)
    }

    #[test]
    fn the_issue_example_compiles_to_three_atoms() {
        let f = Filter::compile("tcp port 443 and not net 10.0.0.0/8").expect("compiles");
        assert_eq!(f.atoms().len(), 3);
        let tcp = atoms_true(&f, |a| *a == Atom::Protocol(6));
        let port = atoms_true(&f, |a| matches!(a, Atom::Port { low: 443, .. }));
        let net = atoms_true(&f, |a| matches!(a, Atom::Address { .. }));
        assert!(f.verdict(tcp | port));
        assert!(!f.verdict(tcp | port | net));
        assert!(!f.verdict(port));
        assert!(!f.verdict(0));
    }

    #[test]
    fn and_or_bind_equally_left_to_right_as_in_tcpdump() {
        // a or b and c == (a or b) and c
        let f = Filter::compile("udp or tcp and port 80").expect("compiles");
        let udp = atoms_true(&f, |a| *a == Atom::Protocol(17));
        let port = atoms_true(&f, |a| matches!(a, Atom::Port { .. }));
        assert!(
            !f.verdict(udp),
            "udp alone: (udp or tcp) and port 80 is false"
        );
        assert!(f.verdict(udp | port));
        let f = Filter::compile("! tcp && (port 53 || port 5353)").expect("compiles");
        assert_eq!(f.atoms().len(), 3);
    }

    #[test]
    fn directions_and_ranges() {
        let f = Filter::compile("src or dst host 192.0.2.1 and src and dst port 1-2")
            .expect_err("portrange needs the portrange keyword");
        assert!(f.reason.contains("not a port number"), "{}", f.reason);
        let f = Filter::compile("src and dst net 2001:db8::/32 or portrange 1000-2000")
            .expect("compiles");
        let m = f.direction_masks();
        assert_eq!(m.src_addr.count_ones(), 1);
        assert_eq!(m.dst_addr.count_ones(), 1);
        assert_eq!(m.src_addr & m.dst_addr, 0);
        assert_eq!(m.src_port, m.dst_port, "an undirected port tests both");
        assert_eq!(f.ports().len(), 1001);
    }

    #[test]
    fn nested_prefixes_carry_the_atoms_of_the_shorter_ones() {
        let f = Filter::compile("net 10.0.0.0/8 and not net 10.1.0.0/16 or host 10.1.2.3")
            .expect("compiles");
        let v4 = f.prefixes(false);
        let get = |s: &str, l: u8| {
            v4.iter()
                .find(|(p, len, _)| *p == s.parse::<IpAddr>().unwrap() && *len == l)
                .map(|e| e.2)
                .unwrap()
        };
        assert_eq!(get("10.0.0.0", 8), 0b001);
        assert_eq!(get("10.1.0.0", 16), 0b011);
        assert_eq!(get("10.1.2.3", 32), 0b111);
        assert!(f.prefixes(true).is_empty());
        // 10.1.2.3 is in all three: (8 and not 16) or host = true.
        assert!(f.verdict(0b111));
        assert!(!f.verdict(0b011));
    }

    #[test]
    fn unsupported_parts_are_named() {
        for (expr, part) in [
            ("greater 100", "'greater' cannot be offloaded"),
            (
                "ether host 00:11:22:33:44:55",
                "'ether' cannot be offloaded",
            ),
            ("tcp[13] & 2 != 0", "cannot be offloaded"),
            ("host example.com", "host names are not resolved"),
            ("port http", "service names are not looked up"),
            ("host 10.0.0.1 or 10.0.0.2", "value lists"),
            ("net 10.0.0.1/8", "host bits set"),
            ("(tcp", "expected ')'"),
            ("tcp and", "ends where a test was expected"),
            ("icmp port 3", "has no ports"),
            ("", "empty"),
        ] {
            let e = Filter::compile(expr).expect_err(expr);
            assert!(e.to_string().contains(part), "{expr}: {e}");
        }
        let many: Vec<String> = (1..=17).map(|p| format!("port {p}")).collect();
        let e = Filter::compile(&many.join(" or ")).expect_err("17 atoms");
        assert!(e.reason.contains("more than 16"), "{e}");
    }

    #[test]
    fn truth_table_matches_the_expression() {
        let f = Filter::compile("vlan 100 or (ip6 and not vlan)").expect("compiles");
        let table = f.truth_table();
        for set in 0..8u16 {
            let bit = table[usize::from(set / 64)] >> (set % 64) & 1 != 0;
            assert_eq!(bit, f.verdict(set), "set {set:b}");
        }
        assert_eq!(f.vlans(), vec![(100, 1)]);
        assert_eq!(f.direction_masks().ipv6, 0b010);
        assert_eq!(f.direction_masks().any_vlan, 0b100);
    }
}
