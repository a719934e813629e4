//! Sizes as people write them (`2GiB`, `512M`, `1.5GB`, a plain number of bytes), for
//! `memory_limit` and `--memory-limit`. Binary suffixes (`K`, `M`, `G`, `T`, with or
//! without `iB`) are powers of 1024, as Slurm's `--mem` reads them; `KB`, `MB`, `GB`,
//! `TB` are powers of 1000.

use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A number of bytes, kept with the text it was written as (the pipeline echoed in
/// report.json says what the user wrote).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ByteSize {
    pub bytes: u64,
    pub text: String,
}

impl ByteSize {
    pub fn parse(text: &str) -> Result<ByteSize, String> {
        let t = text.trim();
        let split = t
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(t.len());
        let (number, unit) = (t[..split].trim(), t[split..].trim());
        let value: f64 = number.parse().map_err(|_| bad(text))?;
        let scale: f64 = match unit.to_ascii_lowercase().as_str() {
            "" | "b" => 1.0,
            "k" | "kib" => 1024.0,
            "m" | "mib" => 1024.0 * 1024.0,
            "g" | "gib" => 1024.0 * 1024.0 * 1024.0,
            "t" | "tib" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
            "kb" => 1e3,
            "mb" => 1e6,
            "gb" => 1e9,
            "tb" => 1e12,
            _ => return Err(bad(text)),
        };
        let bytes = value * scale;
        if !(1.0..1.8e19).contains(&bytes) {
            return Err(bad(text));
        }
        Ok(ByteSize {
            bytes: bytes as u64,
            text: t.to_string(),
        })
    }
}

fn bad(text: &str) -> String {
    format!(
        "'{text}' is not a size: write a number with a unit, such as 2GiB, 512MiB, 1.5GB or 800M"
    )
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<ByteSize, D::Error> {
        struct Size;
        impl Visitor<'_> for Size {
            type Value = ByteSize;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a size such as 2GiB, 512MiB or a number of bytes")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ByteSize, E> {
                ByteSize::parse(v).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ByteSize, E> {
                ByteSize::parse(&v.to_string()).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ByteSize, E> {
                ByteSize::parse(&v.to_string()).map_err(E::custom)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<ByteSize, E> {
                ByteSize::parse(&v.to_string()).map_err(E::custom)
            }
        }
        d.deserialize_any(Size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_slurm_and_disks_write_them() {
        let b = |t: &str| ByteSize::parse(t).unwrap().bytes;
        assert_eq!(b("2GiB"), 2 << 30);
        assert_eq!(b("2G"), 2 << 30);
        assert_eq!(b("512 MiB"), 512 << 20);
        assert_eq!(b("1.5GB"), 1_500_000_000);
        assert_eq!(b("800m"), 800 << 20);
        assert_eq!(b("4096"), 4096);
        for wrong in ["", "GiB", "2 parsecs", "-1G", "0", "1.2.3G"] {
            let e = ByteSize::parse(wrong).unwrap_err();
            assert!(e.contains("is not a size"), "{wrong}: {e}");
        }
    }
}
