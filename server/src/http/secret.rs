//! Secrets the operator chooses (the dashboard's admin token, a cluster's
//! token): how strong one must be, and a wrapper whose `Debug` never prints
//! it.
//!
//! [`estimated_bits`] is a deliberately simple, conservative estimate of a
//! string's guessing entropy: its length times log2 of an alphabet, where the
//! alphabet is the smaller of (a) the character classes it uses (digits 10,
//! `a–f`-only hex 16, lower case 26, upper case 26, anything else 33) and
//! (b) twice the number of distinct characters in it. Random output of
//! `openssl rand -hex 16` (32 hex characters) rates 128 bits; a repeated
//! character (`aaaa…`) rates 1 bit per character; dictionary words are
//! not detected.

/// Least estimated entropy of an accepted secret, bits (NIST SP 800-63B
/// suggests at least 112 for look-up secrets; we ask for 128).
pub const MIN_SECRET_BITS: f64 = 128.0;

/// The estimate of the module doc, bits.
pub fn estimated_bits(s: &str) -> f64 {
    if s.is_empty() {
        return 0.0;
    }
    let (mut digit, mut hex, mut lower, mut upper, mut other) = (false, true, false, false, false);
    let mut distinct = std::collections::BTreeSet::new();
    for c in s.chars() {
        distinct.insert(c);
        if c.is_ascii_digit() {
            digit = true;
        } else if c.is_ascii_lowercase() {
            lower = true;
            hex &= ('a'..='f').contains(&c);
        } else if c.is_ascii_uppercase() {
            upper = true;
            hex = false;
        } else {
            other = true;
            hex = false;
        }
    }
    let lower_size = if hex { 6 } else { 26 };
    let classes = [(digit, 10), (lower, lower_size), (upper, 26), (other, 33)]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, n)| *n)
        .sum::<u32>();
    let alphabet = f64::from(classes).min(2.0 * distinct.len() as f64).max(1.0);
    s.chars().count() as f64 * alphabet.log2().max(1.0)
}

/// Whether `s` rates at least [`MIN_SECRET_BITS`].
pub fn strong_enough(s: &str) -> bool {
    estimated_bits(s) >= MIN_SECRET_BITS
}

/// A secret string: `Debug` prints `Secret(…)`, never the value. Reads from
/// a plain JSON or form string.
#[derive(Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// The secret itself, for comparing or handing on.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Self(s.to_string())
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Self(s)
    }
}

/// The secret in a file: its first line, trimmed (so `openssl rand -hex 16
/// > token` works). Read on the blocking pool.
///
/// # Errors
/// A message naming the file when it cannot be read or is empty.
pub async fn read_secret_file(path: &std::path::Path) -> Result<Secret, String> {
    let text = tokio::fs::read_to_string(path)
        .await
        .map_err(|e| format!("cannot read the secret file {}: {e}", path.display()))?;
    let first = text.lines().next().unwrap_or("").trim();
    if first.is_empty() {
        return Err(format!("the secret file {} is empty", path.display()));
    }
    Ok(Secret(first.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weak_and_strong_secrets() {
        for weak in [
            "aaaaaaaaaaaaaaaa",
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "0123456789abcdef",
            "abababababababababababababababababab",
            "0123456789abcdef0123",
            "",
        ] {
            assert!(
                !strong_enough(weak),
                "{weak:?} rates {}",
                estimated_bits(weak)
            );
        }
        for strong in [
            "3f9c0a7be1d24c6e8f0b5a9d7c3e1f26",         // openssl rand -hex 16
            "Zq3xV9kLm2Pw8RtY6nB4cH7jD1sF5gA0eU_-uIoK", // base64url, 40 chars
            "test-admin-token-0123456789",
        ] {
            assert!(
                strong_enough(strong),
                "{strong:?} rates {}",
                estimated_bits(strong)
            );
        }
        assert_eq!(format!("{:?}", Secret::from("hunter2")), "Secret(…)");
    }
}
