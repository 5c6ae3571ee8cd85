// SPDX-License-Identifier: MIT OR Apache-2.0
//! Resolving the "IPVS" generic-netlink family id through the controller
//! (`CTRL_CMD_GETFAMILY`), with a parser of our own.
//!
//! The upstream `GenlCtrl` parser rejects unknown controller attributes and
//! panics on some malformed ones. This one reads only the four attributes it
//! needs, ignores everything else, and never panics; it is fuzzed through
//! `ipvs::fuzzing::ctrl_reply`.

use netlink_packet_core::{NLA_HEADER_SIZE, NlasIterator};
use netlink_packet_generic::constants::{
    CTRL_ATTR_FAMILY_ID, CTRL_ATTR_FAMILY_NAME, CTRL_ATTR_MAXATTR, CTRL_ATTR_VERSION,
    CTRL_CMD_GETFAMILY, GENL_HDRLEN,
};

/// The IPVS family's name (`IPVS_GENL_NAME`), as the codec declares it.
pub fn ipvs_family_name() -> &'static str {
    <ipvs_sys::IpvsMessage as netlink_packet_generic::GenlFamily>::family_name()
}

/// The controller version this request speaks (any version answers GETFAMILY).
const CTRL_VERSION: u8 = 1;

/// What the controller says about a family.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct FamilyInfo {
    /// `CTRL_ATTR_FAMILY_ID`: the `nlmsg_type` of the family's messages.
    pub id: u16,
    /// `CTRL_ATTR_FAMILY_NAME`.
    pub name: Option<String>,
    /// `CTRL_ATTR_VERSION`: the family's genl version (IPVS: 1).
    pub version: Option<u32>,
    /// `CTRL_ATTR_MAXATTR`: highest top-level attribute (IPVS: 6).
    pub max_attr: Option<u32>,
}

/// Why a controller reply did not name a family.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CtrlReplyError {
    /// Shorter than the 4-byte generic-netlink header.
    #[error("controller reply of {0} bytes is shorter than the genl header")]
    Short(usize),
    /// No valid `CTRL_ATTR_FAMILY_ID`.
    #[error("controller reply has no valid CTRL_ATTR_FAMILY_ID")]
    NoFamilyId,
    /// The reply describes another family.
    #[error("controller reply describes family {0:?}, not the one requested")]
    OtherFamily(String),
}

/// The payload (genl header + attributes) of `CTRL_CMD_GETFAMILY` for `name`.
pub fn getfamily_request(name: &str) -> Vec<u8> {
    let value_len = name.len() + 1; // NUL-terminated
    let nla_len = NLA_HEADER_SIZE + value_len;
    let mut out = Vec::with_capacity(GENL_HDRLEN + nla_len + 3);
    out.extend_from_slice(&[CTRL_CMD_GETFAMILY, CTRL_VERSION, 0, 0]);
    // Family names are at most GENL_NAMSIZ (16) bytes: the length fits u16.
    out.extend_from_slice(&u16::try_from(nla_len).unwrap_or(u16::MAX).to_ne_bytes());
    out.extend_from_slice(&CTRL_ATTR_FAMILY_NAME.to_ne_bytes());
    out.extend_from_slice(name.as_bytes());
    out.push(0);
    out.resize(out.len().next_multiple_of(4), 0);
    out
}

/// Parses a controller reply payload (genl header + attributes).
///
/// Tolerant by design: unknown attributes and a malformed tail are ignored
/// once the family id was read; the command byte is not checked.
pub fn parse_family_reply(
    payload: &[u8],
    expected_name: &str,
) -> Result<FamilyInfo, CtrlReplyError> {
    let attributes = payload
        .get(GENL_HDRLEN..)
        .ok_or(CtrlReplyError::Short(payload.len()))?;
    let mut id = None;
    let mut name = None;
    let mut version = None;
    let mut max_attr = None;
    for nla in NlasIterator::new(attributes) {
        let Ok(nla) = nla else { break };
        let value = nla.value();
        match nla.kind() {
            CTRL_ATTR_FAMILY_ID => id = value.get(..2).map(|b| u16::from_ne_bytes([b[0], b[1]])),
            CTRL_ATTR_FAMILY_NAME => {
                let text = value.split(|b| *b == 0).next().unwrap_or_default();
                name = Some(String::from_utf8_lossy(text).into_owned());
            }
            CTRL_ATTR_VERSION => version = read_u32(value),
            CTRL_ATTR_MAXATTR => max_attr = read_u32(value),
            _ => {}
        }
    }
    if let Some(name) = name.as_ref().filter(|n| *n != expected_name) {
        return Err(CtrlReplyError::OtherFamily(name.clone()));
    }
    Ok(FamilyInfo {
        id: id.ok_or(CtrlReplyError::NoFamilyId)?,
        name,
        version,
        max_attr,
    })
}

fn read_u32(value: &[u8]) -> Option<u32> {
    Some(u32::from_ne_bytes(value.get(..4)?.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nla(kind: u16, value: &[u8]) -> Vec<u8> {
        let mut out = ((4 + value.len()) as u16).to_ne_bytes().to_vec();
        out.extend(kind.to_ne_bytes());
        out.extend(value);
        out.resize(out.len().next_multiple_of(4), 0);
        out
    }

    fn reply(attrs: &[Vec<u8>]) -> Vec<u8> {
        let mut out = vec![1, 2, 0, 0];
        for a in attrs {
            out.extend(a);
        }
        out
    }

    #[test]
    fn request_matches_libnl_layout() {
        assert_eq!(
            getfamily_request("IPVS"),
            [3, 1, 0, 0, 9, 0, 2, 0, b'I', b'P', b'V', b'S', 0, 0, 0, 0]
        );
    }

    #[test]
    fn reads_the_four_attributes_and_ignores_the_rest() {
        let r = reply(&[
            nla(CTRL_ATTR_FAMILY_ID, &0x20u16.to_ne_bytes()),
            nla(CTRL_ATTR_FAMILY_NAME, b"IPVS\0"),
            nla(CTRL_ATTR_VERSION, &1u32.to_ne_bytes()),
            nla(4, &0u32.to_ne_bytes()),
            nla(CTRL_ATTR_MAXATTR, &6u32.to_ne_bytes()),
            nla(6, &[6, 0, 8, 0, 1, 0, 0, 0]), // ops: malformed inside, never looked at
            nla(99, b"from a future kernel"),
        ]);
        assert_eq!(
            parse_family_reply(&r, "IPVS"),
            Ok(FamilyInfo {
                id: 0x20,
                name: Some("IPVS".into()),
                version: Some(1),
                max_attr: Some(6),
            })
        );
    }

    #[test]
    fn malformed_tail_after_the_id_is_tolerated() {
        let mut r = reply(&[nla(CTRL_ATTR_FAMILY_ID, &0x21u16.to_ne_bytes())]);
        r.extend([200, 0, 1, 0, 1]);
        assert_eq!(parse_family_reply(&r, "IPVS").map(|f| f.id), Ok(0x21));
    }

    #[test]
    fn missing_id_short_reply_and_other_family_are_errors() {
        assert_eq!(
            parse_family_reply(&[1, 2], "IPVS"),
            Err(CtrlReplyError::Short(2))
        );
        let r = reply(&[nla(CTRL_ATTR_FAMILY_ID, &[1])]);
        assert_eq!(
            parse_family_reply(&r, "IPVS"),
            Err(CtrlReplyError::NoFamilyId)
        );
        let r = reply(&[
            nla(CTRL_ATTR_FAMILY_ID, &0x22u16.to_ne_bytes()),
            nla(CTRL_ATTR_FAMILY_NAME, b"nlctrl\0"),
        ]);
        assert_eq!(
            parse_family_reply(&r, "IPVS"),
            Err(CtrlReplyError::OtherFamily("nlctrl".into()))
        );
    }
}
