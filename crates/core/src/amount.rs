//! Exact token amounts in atomic units. Never a float.

use std::fmt;
use std::str::FromStr;

use alloy_primitives::U256;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An amount of a token in its smallest unit (a uint256).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Amount(pub U256);

/// Why a text is not an amount.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    #[error("amount is empty")]
    Empty,
    #[error("amount {0:?} is not a decimal integer of atomic units")]
    NotAnInteger(String),
    #[error("amount {0:?} does not fit in 256 bits")]
    Overflow(String),
}

impl Amount {
    pub const ZERO: Amount = Amount(U256::ZERO);

    pub fn from_u64(v: u64) -> Self {
        Amount(U256::from(v))
    }

    /// Parse a decimal integer string such as `"1000"`. Signs, exponents,
    /// fractions, whitespace and hex are refused.
    pub fn parse_decimal(s: &str) -> Result<Self, AmountError> {
        if s.is_empty() {
            return Err(AmountError::Empty);
        }
        if !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(AmountError::NotAnInteger(s.to_owned()));
        }
        U256::from_str_radix(s, 10)
            .map(Amount)
            .map_err(|_| AmountError::Overflow(s.to_owned()))
    }

    pub fn checked_add(self, other: Amount) -> Option<Amount> {
        self.0.checked_add(other.0).map(Amount)
    }

    /// Format in whole units with `decimals` places, trailing zeros dropped:
    /// `1500` with 6 decimals is `"0.0015"`, `2000000` is `"2"`. Exact: no float.
    pub fn format_units(&self, decimals: u8) -> String {
        let digits = self.0.to_string();
        let d = usize::from(decimals);
        if d == 0 {
            return digits;
        }
        let padded = format!("{digits:0>width$}", width = d + 1);
        let (int, frac) = padded.split_at(padded.len() - d);
        let frac = frac.trim_end_matches('0');
        if frac.is_empty() {
            int.to_owned()
        } else {
            format!("{int}.{frac}")
        }
    }

    /// Parse whole units such as `"0.01"` with `decimals` places into atomic
    /// units. More fractional digits than `decimals` is an error, not a rounding.
    pub fn parse_units(s: &str, decimals: u8) -> Result<Self, AmountError> {
        let (int, frac) = s.split_once('.').unwrap_or((s, ""));
        let d = usize::from(decimals);
        if int.is_empty() || frac.len() > d || (s.contains('.') && frac.is_empty()) {
            return Err(AmountError::NotAnInteger(s.to_owned()));
        }
        if !frac.bytes().all(|b| b.is_ascii_digit()) {
            return Err(AmountError::NotAnInteger(s.to_owned()));
        }
        let joined = format!("{int}{frac:0<d$}");
        Amount::parse_decimal(&joined).map_err(|e| match e {
            AmountError::Overflow(_) => AmountError::Overflow(s.to_owned()),
            _ => AmountError::NotAnInteger(s.to_owned()),
        })
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl FromStr for Amount {
    type Err = AmountError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Amount::parse_decimal(s)
    }
}

impl Serialize for Amount {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Amount::parse_decimal(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_units_is_exact() {
        let cases: &[(&str, u8, &str)] = &[
            ("0", 6, "0"),
            ("1", 6, "0.000001"),
            ("1500", 6, "0.0015"),
            ("2000000", 6, "2"),
            ("123456789", 6, "123.456789"),
            ("10", 0, "10"),
            ("1000000000000000000", 18, "1"),
            (
                "115792089237316195423570985008687907853269984665640564039457584007913129639935",
                18,
                "115792089237316195423570985008687907853269984665640564039457.584007913129639935",
            ),
        ];
        for (atomic, dec, want) in cases {
            let a = Amount::parse_decimal(atomic).unwrap();
            assert_eq!(a.format_units(*dec), *want);
            assert_eq!(Amount::parse_units(want, *dec).unwrap(), a, "{want}");
        }
    }

    #[test]
    fn parse_units_refuses_what_would_round() {
        for bad in ["0.0000001", "1.", ".5", "-1", "1e3", "1.2.3", ""] {
            assert!(Amount::parse_units(bad, 6).is_err(), "{bad:?}");
        }
    }
}
