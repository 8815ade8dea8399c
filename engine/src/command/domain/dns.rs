//! A small DNS client for one question: the TXT records of a name, asked
//! of one resolver over UDP. Enough to check a domain claim's proof; every
//! part of the answer it reads is bounded.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

/// How long a lookup may take in all.
pub const DNS_TIMEOUT: Duration = Duration::from_secs(3);
/// The largest answer read (and advertised with EDNS0): DNS flag day 2020's
/// safe UDP size.
pub const MAX_DNS_ANSWER_BYTES: usize = 1232;
/// The most TXT records of one name that are read.
pub const MAX_TXT_RECORDS: usize = 16;
/// The longest TXT record (its strings joined) that is read.
pub const MAX_TXT_RECORD_BYTES: usize = 512;
/// The resolver's port when the configuration names none.
pub const DNS_PORT: u16 = 53;
/// Where the system's resolvers are listed.
const RESOLV_CONF: &str = "/etc/resolv.conf";

const TYPE_TXT: u16 = 16;
const TYPE_OPT: u16 = 41;
const CLASS_IN: u16 = 1;
const RCODE_NXDOMAIN: u8 = 3;

/// Why a lookup gave no answer (a name without TXT records is an answer:
/// no records).
#[derive(Debug, PartialEq)]
pub struct LookupFailed(pub String);

/// The resolver configured (`dns_resolver`), or the system's first.
pub fn system_resolver() -> Option<SocketAddr> {
    let conf = std::fs::read_to_string(RESOLV_CONF).ok()?;
    conf.lines().find_map(|line| {
        let address = line.trim().strip_prefix("nameserver")?.trim();
        let ip: std::net::IpAddr = address.parse().ok()?;
        Some(SocketAddr::new(ip, DNS_PORT))
    })
}

/// The TXT records of `name` (ASCII), each one's strings joined, as
/// `resolver` answers; at most [`MAX_TXT_RECORDS`], longer ones cut to
/// [`MAX_TXT_RECORD_BYTES`].
pub fn txt_records(resolver: SocketAddr, name: &str) -> Result<Vec<String>, LookupFailed> {
    let fail = |what: String| LookupFailed(format!("resolver {resolver}: {what}"));
    let bind: SocketAddr = if resolver.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    }
    .parse()
    .expect("valid wildcard address");
    let socket = UdpSocket::bind(bind).map_err(|e| fail(format!("cannot open a socket: {e}")))?;
    socket
        .connect(resolver)
        .map_err(|e| fail(format!("cannot reach: {e}")))?;
    let mut id = [0u8; 2];
    getrandom::fill(&mut id).map_err(|e| fail(format!("no randomness: {e}")))?;
    let id = u16::from_be_bytes(id);
    let query = encode_query(id, name).map_err(fail)?;
    socket
        .send(&query)
        .map_err(|e| fail(format!("cannot send: {e}")))?;
    let deadline = Instant::now() + DNS_TIMEOUT;
    let mut buffer = [0u8; MAX_DNS_ANSWER_BYTES];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(fail(format!(
                "no answer within {DNS_TIMEOUT:?} (DNS_TIMEOUT)"
            )));
        }
        socket
            .set_read_timeout(Some(left))
            .map_err(|e| fail(e.to_string()))?;
        let len = match socket.recv(&mut buffer) {
            Ok(len) => len,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue
            }
            Err(e) => return Err(fail(format!("cannot receive: {e}"))),
        };
        match parse_answer(id, &query[12..], &buffer[..len]) {
            Answer::Records(records) => return Ok(records),
            Answer::Failed(what) => return Err(fail(what)),
            // Not the answer to this question (a late or forged datagram).
            Answer::Other => continue,
        }
    }
}

/// A query for the TXT records of `name`, with an EDNS0 record advertising
/// [`MAX_DNS_ANSWER_BYTES`].
fn encode_query(id: u16, name: &str) -> Result<Vec<u8>, String> {
    let mut query = Vec::with_capacity(12 + name.len() + 2 + 4 + 11);
    query.extend_from_slice(&id.to_be_bytes());
    query.extend_from_slice(&[0x01, 0x00]); // recursion desired
    query.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 1]); // 1 question, 1 additional
    for label in name.trim_end_matches('.').split('.') {
        if label.is_empty() || label.len() > 63 || !label.is_ascii() {
            return Err(format!("{name:?} is not a DNS name"));
        }
        query.push(label.len() as u8);
        query.extend_from_slice(label.as_bytes());
    }
    query.push(0);
    query.extend_from_slice(&TYPE_TXT.to_be_bytes());
    query.extend_from_slice(&CLASS_IN.to_be_bytes());
    // OPT: root name, type, UDP size, extended rcode/version/flags, no data.
    query.push(0);
    query.extend_from_slice(&TYPE_OPT.to_be_bytes());
    query.extend_from_slice(&(MAX_DNS_ANSWER_BYTES as u16).to_be_bytes());
    query.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    Ok(query)
}

/// What one datagram says.
#[derive(Debug, PartialEq)]
enum Answer {
    Records(Vec<String>),
    Failed(String),
    Other,
}

/// Reads the answer to the query `id` whose question section is
/// `question` (followed by the OPT record, which answers do not echo).
fn parse_answer(id: u16, question: &[u8], packet: &[u8]) -> Answer {
    let mut reader = Reader { packet, at: 0 };
    let Some(header) = reader.take(12) else {
        return Answer::Other;
    };
    let flags = u16::from_be_bytes([header[2], header[3]]);
    let is_response = flags & 0x8000 != 0;
    let question_count = u16::from_be_bytes([header[4], header[5]]);
    let question_len = question.len() - 11; // without the OPT record
    if u16::from_be_bytes([header[0], header[1]]) != id
        || !is_response
        || question_count != 1
        || reader.take(question_len).map(<[u8]>::to_ascii_lowercase)
            != Some(question[..question_len].to_ascii_lowercase())
    {
        return Answer::Other;
    }
    if flags & 0x0200 != 0 {
        return Answer::Failed(format!(
            "answer truncated (more than {MAX_DNS_ANSWER_BYTES} bytes, MAX_DNS_ANSWER_BYTES)"
        ));
    }
    match (flags & 0x000f) as u8 {
        0 => {}
        RCODE_NXDOMAIN => return Answer::Records(Vec::new()),
        rcode => return Answer::Failed(format!("answered with error code {rcode}")),
    }
    let answers = u16::from_be_bytes([header[6], header[7]]);
    let mut records = Vec::new();
    for _ in 0..answers {
        match reader.record() {
            Some(Some(record)) if records.len() < MAX_TXT_RECORDS => records.push(record),
            Some(_) => {}
            None => return Answer::Failed("malformed answer".into()),
        }
    }
    Answer::Records(records)
}

/// A bounds-checked cursor over a DNS message.
struct Reader<'a> {
    packet: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, len: usize) -> Option<&'a [u8]> {
        let bytes = self.packet.get(self.at..self.at.checked_add(len)?)?;
        self.at += len;
        Some(bytes)
    }

    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }

    /// Skips a name: labels up to a zero byte or a compression pointer.
    fn skip_name(&mut self) -> Option<()> {
        loop {
            let len = *self.take(1)?.first()?;
            match len {
                0 => return Some(()),
                l if l & 0xc0 == 0xc0 => return self.take(1).map(drop),
                l if l & 0xc0 == 0 => {
                    self.take(usize::from(l))?;
                }
                _ => return None,
            }
        }
    }

    /// One resource record: `Some(Some(text))` for a TXT record of class
    /// IN (its strings joined, cut to [`MAX_TXT_RECORD_BYTES`]),
    /// `Some(None)` for any other, `None` if malformed.
    fn record(&mut self) -> Option<Option<String>> {
        self.skip_name()?;
        let kind = self.u16()?;
        let class = self.u16()?;
        self.take(4)?; // TTL
        let len = usize::from(self.u16()?);
        let data = self.take(len)?;
        if kind != TYPE_TXT || class != CLASS_IN {
            return Some(None);
        }
        let mut text = Vec::new();
        let mut strings = Reader {
            packet: data,
            at: 0,
        };
        while strings.at < data.len() {
            let len = usize::from(*strings.take(1)?.first()?);
            text.extend_from_slice(strings.take(len)?);
        }
        text.truncate(MAX_TXT_RECORD_BYTES);
        Some(Some(String::from_utf8_lossy(&text).into_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An answer to `query` holding `records` as TXT records (each split
    /// into strings of at most 255 bytes), a CNAME first.
    fn answer_to(query: &[u8], records: &[&str]) -> Vec<u8> {
        let question_end = query.len() - 11;
        let mut packet = query[..question_end].to_vec();
        packet[2] |= 0x80; // response
        packet[6..8].copy_from_slice(&((records.len() + 1) as u16).to_be_bytes());
        packet[10..12].copy_from_slice(&[0, 0]);
        // A CNAME record, skipped.
        packet.extend_from_slice(&[0xc0, 12, 0, 5, 0, 1, 0, 0, 0, 60, 0, 2, 0xc0, 12]);
        for record in records {
            let strings: Vec<&[u8]> = record.as_bytes().chunks(255).collect();
            let len: usize = strings.iter().map(|s| s.len() + 1).sum();
            packet.extend_from_slice(&[0xc0, 12, 0, 16, 0, 1, 0, 0, 0, 60]);
            packet.extend_from_slice(&(len as u16).to_be_bytes());
            for s in strings {
                packet.push(s.len() as u8);
                packet.extend_from_slice(s);
            }
        }
        packet
    }

    #[test]
    fn txt_records_are_read_joined_and_bounded() {
        let query = encode_query(7, "_warden-challenge.acme.com").unwrap();
        let long = "x".repeat(600);
        let answer = answer_to(&query, &["warden-verification=abc", &long]);
        let Answer::Records(records) = parse_answer(7, &query[12..], &answer) else {
            panic!("not read");
        };
        assert_eq!(records[0], "warden-verification=abc");
        assert_eq!(records[1].len(), MAX_TXT_RECORD_BYTES);
        let many: Vec<String> = (0..40).map(|i| i.to_string()).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        let answer = answer_to(&query, &many);
        assert!(
            matches!(parse_answer(7, &query[12..], &answer), Answer::Records(r) if r.len() == MAX_TXT_RECORDS)
        );
    }

    #[test]
    fn answers_to_another_question_are_ignored() {
        let query = encode_query(7, "_warden-challenge.acme.com").unwrap();
        let answer = answer_to(&query, &["warden-verification=abc"]);
        assert_eq!(parse_answer(8, &query[12..], &answer), Answer::Other);
        let other = encode_query(7, "_warden-challenge.evil.com").unwrap();
        assert_eq!(parse_answer(7, &other[12..], &answer), Answer::Other);
    }

    proptest::proptest! {
        /// No datagram makes the reader panic or read out of bounds.
        #[test]
        fn any_datagram_is_read_safely(tail in proptest::collection::vec(proptest::num::u8::ANY, 0..600)) {
            let query = encode_query(7, "_warden-challenge.acme.com").unwrap();
            let mut packet = answer_to(&query, &[]);
            packet[6..8].copy_from_slice(&[0, 9]);
            packet.extend_from_slice(&tail);
            let _ = parse_answer(7, &query[12..], &packet);
            let _ = parse_answer(7, &query[12..], &tail);
        }
    }
}
