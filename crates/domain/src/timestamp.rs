//! Timestamps: stored as integer milliseconds since the Unix epoch, shown as RFC 3339 UTC
//! with exactly three fractional digits, so the text sorts like the time.

use serde::{Serialize, Serializer};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

/// `YYYY-MM-DDTHH:MM:SS.mmmZ`
const RFC3339_LEN: usize = 24;

impl Timestamp {
    pub fn now() -> Self {
        let nanos = OffsetDateTime::now_utc().unix_timestamp_nanos();
        Timestamp((nanos / 1_000_000) as i64)
    }

    pub fn millis(self) -> i64 {
        self.0
    }

    pub fn plus_millis(self, millis: i64) -> Self {
        Timestamp(self.0.saturating_add(millis))
    }

    pub fn plus_seconds(self, seconds: i64) -> Self {
        Timestamp(self.0.saturating_add(seconds.saturating_mul(1000)))
    }

    pub fn rfc3339(self) -> String {
        let mut text = [0; RFC3339_LEN];
        match self.write_rfc3339(&mut text) {
            Some(text) => text.to_owned(),
            None => self.formatted_rfc3339(),
        }
    }

    /// The text of `rfc3339` written into `text` without allocating (timestamps are in every
    /// view, and a list of 10,000 requests has 20,000): None for a year outside 0–9999 or a
    /// time out of range, which `formatted_rfc3339` writes.
    fn write_rfc3339(self, text: &mut [u8; RFC3339_LEN]) -> Option<&str> {
        let (secs, millis) = (self.0.div_euclid(1000), self.0.rem_euclid(1000));
        let at = OffsetDateTime::from_unix_timestamp(secs).ok()?;
        let year = u32::try_from(at.year()).ok().filter(|year| *year <= 9999)?;
        *text = *b"0000-00-00T00:00:00.000Z";
        let fields = [
            (0..4, year),
            (5..7, u32::from(u8::from(at.month()))),
            (8..10, u32::from(at.day())),
            (11..13, u32::from(at.hour())),
            (14..16, u32::from(at.minute())),
            (17..19, u32::from(at.second())),
            (20..23, u32::try_from(millis).ok()?),
        ];
        for (range, mut value) in fields {
            for digit in text[range].iter_mut().rev() {
                *digit = b'0' + (value % 10) as u8;
                value /= 10;
            }
        }
        std::str::from_utf8(text).ok()
    }

    fn formatted_rfc3339(self) -> String {
        let (secs, millis) = (self.0.div_euclid(1000), self.0.rem_euclid(1000));
        match OffsetDateTime::from_unix_timestamp(secs) {
            Ok(at) => format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{millis:03}Z",
                at.year(),
                u8::from(at.month()),
                at.day(),
                at.hour(),
                at.minute(),
                at.second()
            ),
            Err(_) => "1970-01-01T00:00:00.000Z".to_owned(),
        }
    }

    pub fn parse_rfc3339(text: &str) -> Option<Self> {
        let at = OffsetDateTime::parse(text, &Rfc3339).ok()?;
        Some(Timestamp((at.unix_timestamp_nanos() / 1_000_000) as i64))
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut text = [0; RFC3339_LEN];
        match self.write_rfc3339(&mut text) {
            Some(text) => serializer.serialize_str(text),
            None => serializer.serialize_str(&self.formatted_rfc3339()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_fixed_width_utc() {
        assert_eq!(Timestamp(0).rfc3339(), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            Timestamp(1_773_316_800_007).rfc3339(),
            "2026-03-12T12:00:00.007Z"
        );
    }

    #[test]
    fn the_fixed_width_text_is_the_formatted_one() {
        let day = 86_400_000_i64;
        let mut samples = vec![
            0,
            -1,
            1,
            999,
            -day,
            951_782_400_000,     // 2000-02-29
            4_107_542_399_999,   // 2100-02-28T23:59:59.999
            253_402_300_799_999, // 9999-12-31T23:59:59.999
            253_402_300_800_000, // year 10000
            -62_167_219_200_000, // 0000-01-01
            -62_167_219_200_001, // year -1
            i64::MAX,
            i64::MIN,
        ];
        // Every day of four years around a leap year and a century, at varying times.
        let mut at = 946_684_800_000 - 2 * 365 * day;
        while at < 946_684_800_000 + 2 * 366 * day {
            samples.push(at);
            at += day + 3_723_456;
        }
        for millis in samples {
            let at = Timestamp(millis);
            let formatted = at.formatted_rfc3339();
            assert_eq!(at.rfc3339(), formatted, "{millis}");
            assert_eq!(
                serde_json::to_string(&at).unwrap(),
                format!("\"{formatted}\""),
                "{millis}"
            );
            let mut text = [0; RFC3339_LEN];
            if let Some(text) = at.write_rfc3339(&mut text) {
                assert_eq!(text, formatted, "{millis}");
            }
        }
    }

    #[test]
    fn round_trips() {
        let at = Timestamp(1_773_316_800_123);
        assert_eq!(Timestamp::parse_rfc3339(&at.rfc3339()), Some(at));
        assert_eq!(
            Timestamp::parse_rfc3339("2026-03-12T12:00:00Z"),
            Some(Timestamp(1_773_316_800_000))
        );
        assert_eq!(Timestamp::parse_rfc3339("yesterday"), None);
    }
}
