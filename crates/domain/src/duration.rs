//! Approval windows written as Go-style durations: `4h`, `30m`, `1h30m`, `90s`, `1d`.

use crate::Invalid;

/// Parses a duration into seconds. Units: d, h, m, s; at least one component; total > 0.
pub fn parse_seconds(text: &str) -> Result<i64, Invalid> {
    let invalid = || {
        Invalid(format!(
            "invalid duration {text:?}: use forms like 30m, 4h, 1h30m or 1d"
        ))
    };
    let mut total: i64 = 0;
    let mut digits = String::new();
    for ch in text.trim().chars() {
        if ch.is_ascii_digit() {
            digits.push(ch);
            continue;
        }
        let unit = match ch {
            'd' => 86_400,
            'h' => 3_600,
            'm' => 60,
            's' => 1,
            _ => return Err(invalid()),
        };
        let amount: i64 = digits.parse().map_err(|_| invalid())?;
        total = amount
            .checked_mul(unit)
            .and_then(|secs| total.checked_add(secs))
            .ok_or_else(invalid)?;
        digits.clear();
    }
    if !digits.is_empty() || total <= 0 {
        return Err(invalid());
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_common_forms() {
        assert_eq!(parse_seconds("4h"), Ok(14_400));
        assert_eq!(parse_seconds("30m"), Ok(1_800));
        assert_eq!(parse_seconds("1h30m"), Ok(5_400));
        assert_eq!(parse_seconds("90s"), Ok(90));
        assert_eq!(parse_seconds("1d"), Ok(86_400));
    }

    #[test]
    fn rejects_malformed() {
        for text in [
            "",
            "4",
            "h",
            "4x",
            "-4h",
            "0h",
            "4h5",
            "99999999999999999999h",
        ] {
            assert!(parse_seconds(text).is_err(), "{text:?}");
        }
    }
}
