// SPDX-License-Identifier: MIT OR Apache-2.0
//! The configuration files of the daemons the scaling examples run beside
//! IPVS, as shipped in `examples/conf/`: keepalived for the active/backup
//! pair (VRRP only), BIRD 2 for the ECMP router and its directors (BGP). Each
//! is a template whose `@NAME@` placeholders the kernel tests and the demo
//! fill in with [`fill`].

/// `examples/conf/keepalived-pair.conf`: one director of the LVS-DR pair.
/// Placeholders: `ROUTER_ID`, `IFACE`, `VRID` (1..=255), `PRIORITY`
/// (1..=254), `ADVERT_INT` (seconds), `VIP`, `FAILOVER_DIRECTOR` (the
/// binary's path), `SYNC` (its sync daemon flags).
pub const KEEPALIVED_PAIR: &str = include_str!("../../conf/keepalived-pair.conf");

/// `examples/conf/bird-router.conf`: the ECMP router. Placeholders:
/// `ROUTER_ID`, `LOCAL_AS`, `DIRECTOR_AS`, `DIRECTOR_1`..`DIRECTOR_3` (the
/// directors' addresses on their links).
pub const BIRD_ROUTER: &str = include_str!("../../conf/bird-router.conf");

/// `examples/conf/bird-director.conf`: one director of the ECMP tier.
/// Placeholders: `ROUTER_ID`, `LOCAL_AS`, `VIP`, `ROUTER` (the router's
/// address on the link), `ROUTER_AS`.
pub const BIRD_DIRECTOR: &str = include_str!("../../conf/bird-director.conf");

/// Why a template could not be filled in.
#[derive(Debug, PartialEq, Eq)]
pub enum ConfError {
    /// A placeholder the template has was given no value.
    Unfilled {
        /// Its name, without the `@`s.
        placeholder: String,
    },
    /// A value was given for a placeholder the template does not have.
    UnknownPlaceholder {
        /// The name given.
        placeholder: String,
    },
    /// A value would break the file's syntax: a newline, a `"`, a `@` or a
    /// `#` (it is put inside quoted strings and lines).
    InvalidValue {
        /// The placeholder.
        placeholder: String,
        /// The value.
        value: String,
    },
}

impl std::fmt::Display for ConfError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConfError::Unfilled { placeholder } => {
                write!(f, "no value for @{placeholder}@ in the template")
            }
            ConfError::UnknownPlaceholder { placeholder } => {
                write!(f, "the template has no @{placeholder}@")
            }
            ConfError::InvalidValue { placeholder, value } => write!(
                f,
                "invalid value for @{placeholder}@: {value:?}: no newline, '\"', '@' or '#'"
            ),
        }
    }
}

impl std::error::Error for ConfError {}

/// One piece of a template: text, or a placeholder's name.
enum Piece<'a> {
    Text(&'a str),
    Placeholder(&'a str),
}

/// Splits `template` into text and `@NAME@` placeholders (NAME: upper-case
/// letters, digits and `_`); any other `@` is text.
fn pieces(template: &str) -> Vec<Piece<'_>> {
    let mut out = Vec::new();
    let mut text_start = 0;
    let mut i = 0;
    while let Some(at) = template[i..].find('@').map(|p| p + i) {
        let after = &template[at + 1..];
        let len = after
            .find(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
            .unwrap_or(after.len());
        if len > 0 && after[len..].starts_with('@') {
            out.push(Piece::Text(&template[text_start..at]));
            out.push(Piece::Placeholder(&after[..len]));
            i = at + len + 2;
            text_start = i;
        } else {
            i = at + 1;
        }
    }
    out.push(Piece::Text(&template[text_start..]));
    out
}

/// The placeholders of `template`, sorted, each once.
pub fn placeholders(template: &str) -> Vec<&str> {
    let mut names: Vec<&str> = pieces(template)
        .into_iter()
        .filter_map(|p| match p {
            Piece::Placeholder(name) => Some(name),
            Piece::Text(_) => None,
        })
        .collect();
    names.sort_unstable();
    names.dedup();
    names
}

/// Replaces every `@NAME@` of `template` with its value from `values`.
/// Every placeholder must be given a value, and every value must have its
/// placeholder.
pub fn fill(template: &str, values: &[(&str, &str)]) -> Result<String, ConfError> {
    let names = placeholders(template);
    for (name, value) in values {
        if !names.contains(name) {
            return Err(ConfError::UnknownPlaceholder {
                placeholder: name.to_string(),
            });
        }
        if value.contains(['\n', '\r', '"', '@', '#']) {
            return Err(ConfError::InvalidValue {
                placeholder: name.to_string(),
                value: value.to_string(),
            });
        }
    }
    let mut out = String::with_capacity(template.len());
    for piece in pieces(template) {
        match piece {
            Piece::Text(text) => out.push_str(text),
            Piece::Placeholder(name) => {
                let (_, value) =
                    values
                        .iter()
                        .find(|(n, _)| *n == name)
                        .ok_or_else(|| ConfError::Unfilled {
                            placeholder: name.to_string(),
                        })?;
                out.push_str(value);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_placeholder_is_filled_and_only_those() {
        let t = "a @X@ b @Y_2@ c @X@ d@e";
        assert_eq!(
            fill(t, &[("X", "1"), ("Y_2", "two")]).unwrap(),
            "a 1 b two c 1 d@e"
        );
        assert_eq!(
            fill(t, &[("X", "1")]),
            Err(ConfError::Unfilled {
                placeholder: "Y_2".into()
            })
        );
        assert_eq!(
            fill(t, &[("X", "1"), ("Y_2", "2"), ("Z", "3")]),
            Err(ConfError::UnknownPlaceholder {
                placeholder: "Z".into()
            })
        );
        let e = fill(t, &[("X", "1\n}"), ("Y_2", "2")]).unwrap_err();
        assert!(matches!(e, ConfError::InvalidValue { .. }), "{e}");
        assert!(e.to_string().contains("@X@"), "{e}");
    }

    #[test]
    fn the_shipped_templates_have_the_documented_placeholders() {
        assert_eq!(
            placeholders(KEEPALIVED_PAIR),
            [
                "ADVERT_INT",
                "FAILOVER_DIRECTOR",
                "IFACE",
                "PRIORITY",
                "ROUTER_ID",
                "SYNC",
                "VIP",
                "VRID"
            ]
        );
        assert_eq!(
            placeholders(BIRD_ROUTER),
            [
                "DIRECTOR_1",
                "DIRECTOR_2",
                "DIRECTOR_3",
                "DIRECTOR_AS",
                "LOCAL_AS",
                "ROUTER_ID"
            ]
        );
        assert_eq!(
            placeholders(BIRD_DIRECTOR),
            ["LOCAL_AS", "ROUTER", "ROUTER_AS", "ROUTER_ID", "VIP"]
        );
    }
}
