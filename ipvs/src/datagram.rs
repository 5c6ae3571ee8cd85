// SPDX-License-Identifier: MIT OR Apache-2.0
//! Splitting a received netlink datagram into messages, and classifying each
//! message (data, ACK, error, `NLMSG_DONE`, ...).
//!
//! These are pure functions over untrusted bytes: they never panic, never
//! loop forever (every step advances by at least one header), and report a
//! malformed datagram as [`MalformedMessage`]. They are fuzzed through
//! `ipvs::fuzzing::datagram_walk`.
//!
//! ```text
//! datagram = nlmsghdr | payload | pad to 4 | nlmsghdr | payload | pad | ...
//! nlmsghdr = u32 len (header included, padding excluded) | u16 type | u16 flags | u32 seq | u32 port id
//! ```

use netlink_packet_core::{
    NLM_F_ACK_TLVS, NLM_F_CAPPED, NLMSG_DONE, NLMSG_ERROR, NLMSG_NOOP, NLMSG_OVERRUN, NlasIterator,
};

/// Size of `struct nlmsghdr`.
pub const NLMSG_HDRLEN: usize = 16;

/// `NLMSGERR_ATTR_MSG`: the extended-ACK text (`include/uapi/linux/netlink.h`).
const NLMSGERR_ATTR_MSG: u16 = 1;
/// `NLMSGERR_ATTR_OFFS`: offset of the offending attribute in the request.
const NLMSGERR_ATTR_OFFS: u16 = 2;
/// `NLMSGERR_ATTR_MISS_TYPE`: type of a missing required attribute.
const NLMSGERR_ATTR_MISS_TYPE: u16 = 5;

/// Rounds `len` up to the netlink alignment (`NLMSG_ALIGN`), saturating.
pub fn nlmsg_align(len: usize) -> usize {
    len.saturating_add(3) & !3
}

/// The fields of a `struct nlmsghdr`, in host order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct MessageHeader {
    /// `nlmsg_len`: header plus payload, without trailing padding.
    pub length: u32,
    /// `nlmsg_type`: a control type (`NLMSG_ERROR`, ...) or the family id.
    pub message_type: u16,
    /// `nlmsg_flags` (`NLM_F_*`).
    pub flags: u16,
    /// `nlmsg_seq`.
    pub sequence: u32,
    /// `nlmsg_pid`: the port id of the socket the message is addressed to.
    pub port: u32,
}

impl MessageHeader {
    /// Parses the first 16 bytes of `bytes`; `None` if there are fewer.
    pub fn parse(bytes: &[u8]) -> Option<Self> {
        let u32_at = |at: usize| -> Option<u32> {
            Some(u32::from_ne_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
        };
        let u16_at = |at: usize| -> Option<u16> {
            Some(u16::from_ne_bytes(bytes.get(at..at + 2)?.try_into().ok()?))
        };
        Some(Self {
            length: u32_at(0)?,
            message_type: u16_at(4)?,
            flags: u16_at(6)?,
            sequence: u32_at(8)?,
            port: u32_at(12)?,
        })
    }

    /// Writes the header into the first 16 bytes of `out`.
    ///
    /// # Panics
    /// If `out` is shorter than [`NLMSG_HDRLEN`] (a caller bug, never data).
    pub fn emit(&self, out: &mut [u8]) {
        out[0..4].copy_from_slice(&self.length.to_ne_bytes());
        out[4..6].copy_from_slice(&self.message_type.to_ne_bytes());
        out[6..8].copy_from_slice(&self.flags.to_ne_bytes());
        out[8..12].copy_from_slice(&self.sequence.to_ne_bytes());
        out[12..16].copy_from_slice(&self.port.to_ne_bytes());
    }
}

/// One message of a datagram: its header and the payload after the header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawMessage<'a> {
    /// The message header.
    pub header: MessageHeader,
    /// `nlmsg_len - 16` bytes following the header.
    pub payload: &'a [u8],
}

/// Why a datagram or one of its messages could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MalformedMessage {
    /// Fewer than 16 bytes remain where a message header should start.
    #[error(
        "{remaining} bytes at offset {offset} are too short for a netlink header ({NLMSG_HDRLEN} bytes)"
    )]
    ShortHeader {
        /// Offset of the header in the datagram.
        offset: usize,
        /// Bytes left in the datagram.
        remaining: usize,
    },
    /// `nlmsg_len` is smaller than the header itself.
    #[error("message at offset {offset} declares length {declared}, less than its own header")]
    LengthTooSmall {
        /// Offset of the message in the datagram.
        offset: usize,
        /// The declared `nlmsg_len`.
        declared: u32,
    },
    /// `nlmsg_len` runs past the end of the datagram.
    #[error(
        "message at offset {offset} declares length {declared} but only {remaining} bytes remain"
    )]
    LengthOverrun {
        /// Offset of the message in the datagram.
        offset: usize,
        /// The declared `nlmsg_len`.
        declared: u32,
        /// Bytes left in the datagram.
        remaining: usize,
    },
    /// An `NLMSG_ERROR` or `NLMSG_DONE` payload is too short for its errno.
    #[error("{kind} message has a {len}-byte payload, too short for its 4-byte error code")]
    ShortControl {
        /// `"NLMSG_ERROR"` or `"NLMSG_DONE"`.
        kind: &'static str,
        /// Payload length.
        len: usize,
    },
}

/// Iterator over the messages of one datagram; see [`messages`].
#[derive(Clone, Debug)]
pub struct Messages<'a> {
    datagram: &'a [u8],
    offset: usize,
}

/// Walks `datagram` message by message (`NLMSG_OK`/`NLMSG_NEXT` semantics).
///
/// Each step advances by `NLMSG_ALIGN(nlmsg_len)` (at least 16 bytes), and the
/// last message may omit its padding. The first malformed header yields an
/// `Err` and ends the walk: nothing after it can be trusted.
pub fn messages(datagram: &[u8]) -> Messages<'_> {
    Messages {
        datagram,
        offset: 0,
    }
}

impl<'a> Iterator for Messages<'a> {
    type Item = Result<RawMessage<'a>, MalformedMessage>;

    fn next(&mut self) -> Option<Self::Item> {
        let offset = self.offset;
        let rest = self.datagram.get(offset..).filter(|r| !r.is_empty())?;
        // Whatever happens below, the next call starts at the end unless a
        // whole message is accepted: no path can loop.
        self.offset = self.datagram.len();
        let Some(header) = MessageHeader::parse(rest) else {
            return Some(Err(MalformedMessage::ShortHeader {
                offset,
                remaining: rest.len(),
            }));
        };
        let declared = header.length as usize;
        if declared < NLMSG_HDRLEN {
            return Some(Err(MalformedMessage::LengthTooSmall {
                offset,
                declared: header.length,
            }));
        }
        let Some(payload) = rest.get(NLMSG_HDRLEN..declared) else {
            return Some(Err(MalformedMessage::LengthOverrun {
                offset,
                declared: header.length,
                remaining: rest.len(),
            }));
        };
        self.offset = offset
            .saturating_add(nlmsg_align(declared))
            .min(self.datagram.len());
        Some(Ok(RawMessage { header, payload }))
    }
}

/// Extended-ACK information the kernel attached to an error, ACK or DONE
/// (`NETLINK_EXT_ACK`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExtAck {
    /// `NLMSGERR_ATTR_MSG`: human-readable text from the kernel.
    pub message: Option<String>,
    /// `NLMSGERR_ATTR_OFFS`: byte offset, in the request, of the attribute
    /// the kernel rejected.
    pub offset: Option<u32>,
    /// `NLMSGERR_ATTR_MISS_TYPE`: type of a missing required attribute.
    pub missing_type: Option<u32>,
}

impl ExtAck {
    /// True when the kernel attached nothing.
    pub fn is_empty(&self) -> bool {
        self.message.is_none() && self.offset.is_none() && self.missing_type.is_none()
    }

    /// Parses extended-ACK TLVs, tolerating garbage: unknown attributes are
    /// ignored and a malformed attribute ends the parse.
    pub fn parse(tlvs: &[u8]) -> Self {
        let mut ack = Self::default();
        for nla in NlasIterator::new(tlvs) {
            let Ok(nla) = nla else { break };
            let value = nla.value();
            match nla.kind() {
                NLMSGERR_ATTR_MSG => {
                    let text = value.split(|b| *b == 0).next().unwrap_or_default();
                    let text = String::from_utf8_lossy(text).trim().to_owned();
                    if !text.is_empty() {
                        ack.message = Some(text);
                    }
                }
                NLMSGERR_ATTR_OFFS => ack.offset = read_u32(value),
                NLMSGERR_ATTR_MISS_TYPE => ack.missing_type = read_u32(value),
                _ => {}
            }
        }
        ack
    }
}

impl std::fmt::Display for ExtAck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut sep = "";
        if let Some(message) = &self.message {
            write!(f, "{message}")?;
            sep = ", ";
        }
        if let Some(offset) = self.offset {
            write!(f, "{sep}at byte {offset} of the request")?;
            sep = ", ";
        }
        if let Some(missing) = self.missing_type {
            write!(f, "{sep}missing attribute type {missing}")?;
        }
        Ok(())
    }
}

fn read_u32(value: &[u8]) -> Option<u32> {
    Some(u32::from_ne_bytes(value.get(..4)?.try_into().ok()?))
}

/// What a message means to a requester.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply<'a> {
    /// A family message (`nlmsg_type` ≥ 16): the payload is a genl message.
    Data {
        /// `nlmsg_type` (the family id).
        message_type: u16,
        /// The generic-netlink header and attributes.
        payload: &'a [u8],
    },
    /// `NLMSG_ERROR` with code 0: the request succeeded.
    Ack(ExtAck),
    /// `NLMSG_ERROR` with a non-zero code.
    Error {
        /// Positive errno (`-nlmsgerr.error`).
        errno: i32,
        /// Extended ACK, if the kernel attached one.
        ext_ack: ExtAck,
    },
    /// `NLMSG_DONE`: the end of a dump, successful when `errno` is 0.
    Done {
        /// Positive errno, 0 on success.
        errno: i32,
        /// Extended ACK, if the kernel attached one.
        ext_ack: ExtAck,
    },
    /// `NLMSG_NOOP`: ignore.
    Noop,
    /// `NLMSG_OVERRUN`: data was lost.
    Overrun,
}

/// Classifies one message; never panics.
pub fn classify<'a>(message: &RawMessage<'a>) -> Result<Reply<'a>, MalformedMessage> {
    let flags = message.header.flags;
    let payload = message.payload;
    match message.header.message_type {
        NLMSG_NOOP => Ok(Reply::Noop),
        NLMSG_OVERRUN => Ok(Reply::Overrun),
        NLMSG_ERROR => {
            let code = error_code(payload, "NLMSG_ERROR")?;
            // struct nlmsgerr { int error; struct nlmsghdr msg; } followed by
            // the request's payload unless NLM_F_CAPPED, then the TLVs.
            let ext_ack = if flags & NLM_F_ACK_TLVS != 0 {
                let echoed = if flags & NLM_F_CAPPED != 0 {
                    NLMSG_HDRLEN
                } else {
                    payload
                        .get(4..)
                        .and_then(MessageHeader::parse)
                        .map_or(NLMSG_HDRLEN, |h| nlmsg_align(h.length as usize))
                };
                ExtAck::parse(
                    payload
                        .get(4usize.saturating_add(echoed)..)
                        .unwrap_or_default(),
                )
            } else {
                ExtAck::default()
            };
            Ok(if code == 0 {
                Reply::Ack(ext_ack)
            } else {
                Reply::Error {
                    errno: errno_of(code),
                    ext_ack,
                }
            })
        }
        NLMSG_DONE => {
            // A zero-length DONE is legal (older kernels, some families).
            if payload.is_empty() {
                return Ok(Reply::Done {
                    errno: 0,
                    ext_ack: ExtAck::default(),
                });
            }
            let code = error_code(payload, "NLMSG_DONE")?;
            let ext_ack = if flags & NLM_F_ACK_TLVS != 0 {
                ExtAck::parse(payload.get(4..).unwrap_or_default())
            } else {
                ExtAck::default()
            };
            Ok(Reply::Done {
                errno: errno_of(code),
                ext_ack,
            })
        }
        message_type => Ok(Reply::Data {
            message_type,
            payload,
        }),
    }
}

fn error_code(payload: &[u8], kind: &'static str) -> Result<i32, MalformedMessage> {
    payload
        .get(..4)
        .and_then(|b| b.try_into().ok())
        .map(i32::from_ne_bytes)
        .ok_or(MalformedMessage::ShortControl {
            kind,
            len: payload.len(),
        })
}

/// The kernel sends `-errno`; be lenient about the sign.
fn errno_of(code: i32) -> i32 {
    i32::try_from(code.unsigned_abs()).unwrap_or(i32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(message_type: u16, flags: u16, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![0; NLMSG_HDRLEN];
        MessageHeader {
            length: (NLMSG_HDRLEN + payload.len()) as u32,
            message_type,
            flags,
            sequence: 7,
            port: 42,
        }
        .emit(&mut out);
        out.extend_from_slice(payload);
        out.resize(out.len().next_multiple_of(4), 0);
        out
    }

    #[test]
    fn walks_several_messages_with_padding() {
        let mut d = msg(0x20, 2, &[1, 2, 3]);
        d.extend(msg(0x20, 2, &[4, 5, 6, 7, 8]));
        d.extend(msg(NLMSG_DONE, 2, &0i32.to_ne_bytes()));
        let all: Vec<_> = messages(&d).collect::<Result<_, _>>().unwrap();
        assert_eq!(all.len(), 3);
        assert_eq!(all[0].payload, &[1, 2, 3]);
        assert_eq!(all[1].payload, &[4, 5, 6, 7, 8]);
        assert_eq!(all[2].header.message_type, NLMSG_DONE);
    }

    #[test]
    fn accepts_an_unpadded_last_message() {
        let mut d = msg(0x20, 0, &[1, 2, 3]);
        d.truncate(NLMSG_HDRLEN + 3);
        let all: Vec<_> = messages(&d).collect::<Result<_, _>>().unwrap();
        assert_eq!(all[0].payload, &[1, 2, 3]);
    }

    #[test]
    fn zero_length_header_ends_the_walk_with_an_error() {
        let mut d = msg(0x20, 0, &[]);
        d.extend([0u8; 16]);
        let all: Vec<_> = messages(&d).collect();
        assert_eq!(all.len(), 2);
        assert!(all[0].is_ok());
        assert_eq!(
            all[1],
            Err(MalformedMessage::LengthTooSmall {
                offset: 16,
                declared: 0
            })
        );
    }

    #[test]
    fn overrunning_length_and_short_tail_are_errors() {
        let mut d = msg(0x20, 0, &[0; 8]);
        d[0] = 200;
        assert!(matches!(
            messages(&d).next(),
            Some(Err(MalformedMessage::LengthOverrun { declared: 200, .. }))
        ));
        let mut d = msg(0x20, 0, &[]);
        d.extend([1, 2, 3, 4, 5]);
        let all: Vec<_> = messages(&d).collect();
        assert_eq!(
            all[1],
            Err(MalformedMessage::ShortHeader {
                offset: 16,
                remaining: 5
            })
        );
    }

    #[test]
    fn every_prefix_terminates_without_panicking() {
        let mut d = msg(0x20, 2, &[1, 2, 3]);
        d.extend(msg(NLMSG_ERROR, 0, &[0; 20]));
        for len in 0..=d.len() {
            let n = messages(&d[..len]).take(100).count();
            assert!(n <= 2, "prefix {len} yielded {n} items");
        }
    }

    fn tlv(kind: u16, value: &[u8]) -> Vec<u8> {
        let mut out = ((4 + value.len()) as u16).to_ne_bytes().to_vec();
        out.extend(kind.to_ne_bytes());
        out.extend(value);
        out.resize(out.len().next_multiple_of(4), 0);
        out
    }

    #[test]
    fn error_with_capped_ext_ack_is_parsed() {
        let mut payload = (-22i32).to_ne_bytes().to_vec();
        let mut echoed = vec![0; 16];
        MessageHeader {
            length: 120,
            ..Default::default()
        }
        .emit(&mut echoed);
        payload.extend(echoed);
        payload.extend(tlv(NLMSGERR_ATTR_MSG, b"bad weight\0"));
        payload.extend(tlv(NLMSGERR_ATTR_OFFS, &36u32.to_ne_bytes()));
        let d = msg(NLMSG_ERROR, NLM_F_CAPPED | NLM_F_ACK_TLVS, &payload);
        let m = messages(&d).next().unwrap().unwrap();
        let Reply::Error { errno, ext_ack } = classify(&m).unwrap() else {
            panic!("not an error")
        };
        assert_eq!(errno, 22);
        assert_eq!(ext_ack.message.as_deref(), Some("bad weight"));
        assert_eq!(ext_ack.offset, Some(36));
        assert_eq!(ext_ack.to_string(), "bad weight, at byte 36 of the request");
    }

    #[test]
    fn uncapped_error_skips_the_echoed_request() {
        let mut payload = (-1i32).to_ne_bytes().to_vec();
        let mut echoed = vec![0; 24];
        MessageHeader {
            length: 22,
            ..Default::default()
        }
        .emit(&mut echoed);
        payload.extend(echoed);
        payload.extend(tlv(NLMSGERR_ATTR_MSG, b"nope\0"));
        let d = msg(NLMSG_ERROR, NLM_F_ACK_TLVS, &payload);
        let m = messages(&d).next().unwrap().unwrap();
        assert_eq!(
            classify(&m).unwrap(),
            Reply::Error {
                errno: 1,
                ext_ack: ExtAck {
                    message: Some("nope".into()),
                    ..Default::default()
                }
            }
        );
    }

    #[test]
    fn done_variants() {
        for (payload, errno) in [(vec![], 0), ((-4i32).to_ne_bytes().to_vec(), 4)] {
            let d = msg(NLMSG_DONE, 2, &payload);
            let m = messages(&d).next().unwrap().unwrap();
            assert!(matches!(classify(&m), Ok(Reply::Done { errno: e, .. }) if e == errno));
        }
        let d = msg(NLMSG_DONE, 2, &[1, 2]);
        let m = messages(&d).next().unwrap().unwrap();
        assert!(classify(&m).is_err());
    }
}
