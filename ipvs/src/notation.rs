// SPDX-License-Identifier: MIT OR Apache-2.0
//! Reading ipvsadm options (`-w 3`, `--tun-port 6080`, ...) for the `FromStr`
//! impls of [`crate::Service`], [`crate::Destination`] and
//! [`crate::Forwarding`]: words, option values and bounded numbers, each
//! failure a field and a reason for [`ParseError`].

use std::ops::RangeInclusive;
use std::str::SplitWhitespace;

/// Why a value in ipvsadm notation ([`crate::ServiceKey`], [`crate::Service`],
/// [`crate::Destination`], [`crate::Forwarding`], [`crate::Scheduler`], ...)
/// did not parse: the input, the field at fault and the rule it broke, with
/// the limit.
///
/// ```
/// let err = "-r 198.51.100.10:80 -m -w 4294967295".parse::<ipvs::Destination>().unwrap_err();
/// assert_eq!(err.field(), "weight");
/// assert_eq!(err.reason(), "4294967295 is above the maximum 2147483647");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("cannot parse {input:?} as {what}: {field}: {reason}")]
pub struct ParseError {
    input: String,
    what: &'static str,
    field: &'static str,
    reason: String,
}

/// Inputs longer than this are cut in [`ParseError`]'s message.
pub(crate) const MAX_QUOTED_INPUT: usize = 120;

impl ParseError {
    /// An error about `field` of `input`, parsed as `what` (`"a destination
    /// (-r ADDR:PORT ...)"`).
    pub(crate) fn new(
        input: &str,
        what: &'static str,
        field: &'static str,
        reason: impl Into<String>,
    ) -> Self {
        let mut end = input.len().min(MAX_QUOTED_INPUT);
        while !input.is_char_boundary(end) {
            end -= 1;
        }
        let mut quoted = input[..end].to_owned();
        if end < input.len() {
            quoted.push('…');
        }
        Self {
            input: quoted,
            what,
            field,
            reason: reason.into(),
        }
    }

    /// The text that did not parse (cut to 120 bytes).
    pub fn input(&self) -> &str {
        &self.input
    }

    /// The field at fault: `"weight"`, `"persistence timeout"`,
    /// `"address"`, ... (the names [`crate::Error::InvalidArgument`] uses).
    pub fn field(&self) -> &'static str {
        self.field
    }

    /// The rule the field broke, with the limit.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

/// A field and the rule it broke, turned into a [`ParseError`] by
/// [`Problem::at`].
#[derive(Debug)]
pub(crate) struct Problem {
    pub(crate) field: &'static str,
    pub(crate) reason: String,
}

impl Problem {
    pub(crate) fn new(field: &'static str, reason: impl Into<String>) -> Self {
        Self {
            field,
            reason: reason.into(),
        }
    }

    /// The [`ParseError`] of `input`, read as `what`.
    pub(crate) fn at(self, input: &str, what: &'static str) -> ParseError {
        ParseError::new(input, what, self.field, self.reason)
    }
}

/// The whitespace-separated words of an ipvsadm command line.
pub(crate) struct Words<'a> {
    words: SplitWhitespace<'a>,
}

impl<'a> Words<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        Self {
            words: text.split_whitespace(),
        }
    }

    pub(crate) fn next(&mut self) -> Option<&'a str> {
        self.words.next()
    }

    /// The value that follows `option` (which sets `field`).
    pub(crate) fn value(&mut self, field: &'static str, option: &str) -> Result<&'a str, Problem> {
        self.words
            .next()
            .ok_or_else(|| Problem::new(field, format!("{option} needs a value")))
    }

    /// The next word if it is a value rather than an option (`-p` takes an
    /// optional timeout).
    pub(crate) fn optional_value(&mut self) -> Option<&'a str> {
        let next = self.words.clone().next()?;
        if next.starts_with('-') {
            return None;
        }
        self.words.next()
    }
}

/// A whole number of `range`, as ipvsadm prints it (decimal), as a `T`
/// (whose range `range` lies in).
pub(crate) fn bounded<T: TryFrom<u64>>(
    field: &'static str,
    text: &str,
    range: RangeInclusive<u64>,
) -> Result<T, Problem> {
    let (low, high) = (*range.start(), *range.end());
    let value: u64 = text.parse().map_err(|_| {
        Problem::new(
            field,
            format!("{text:?} is not a whole number of {low}..={high}"),
        )
    })?;
    if value < low {
        return Err(Problem::new(
            field,
            format!("{value} is below the minimum {low}"),
        ));
    }
    let above = || Problem::new(field, format!("{value} is above the maximum {high}"));
    if value > high {
        return Err(above());
    }
    T::try_from(value).map_err(|_| above())
}

/// Stores `value` in `slot`, refusing an option given twice.
pub(crate) fn set_once<T>(
    slot: &mut Option<T>,
    field: &'static str,
    option: &str,
    value: T,
) -> Result<(), Problem> {
    if slot.is_some() {
        return Err(Problem::new(field, format!("{option} is given twice")));
    }
    *slot = Some(value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_name_the_field_and_the_range() {
        assert_eq!(bounded::<u8>("weight", "7", 0..=10).unwrap(), 7);
        let above = bounded::<u8>("weight", "11", 0..=10).unwrap_err();
        assert_eq!(
            (above.field, above.reason.as_str()),
            ("weight", "11 is above the maximum 10")
        );
        let below = bounded::<u32>("timeout", "0", 1..=10).unwrap_err();
        assert_eq!(below.reason, "0 is below the minimum 1");
        for bad in ["", "-1", "x", "99999999999999999999999"] {
            let e = bounded::<u32>("weight", bad, 0..=10).unwrap_err();
            assert!(e.reason.contains("0..=10"), "{bad}: {}", e.reason);
        }
    }

    #[test]
    fn an_optional_value_is_not_an_option() {
        let mut words = Words::new("-p -M 64");
        assert_eq!(words.next(), Some("-p"));
        assert_eq!(words.optional_value(), None);
        assert_eq!(words.next(), Some("-M"));
        assert_eq!(words.optional_value(), Some("64"));
        assert_eq!(words.optional_value(), None);
    }
}
