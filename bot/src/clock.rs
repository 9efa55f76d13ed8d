//! Time rules without a time-zone database: business hours in a fixed UTC offset and
//! promotion windows between two instants. Time is always the caller's `now_ms`
//! (milliseconds since the Unix epoch), never the system clock.

const MS_PER_MINUTE: i64 = 60_000;
const MS_PER_DAY: i64 = 86_400_000;
const MINUTES_PER_DAY: u32 = 24 * 60;

/// Opening hours on some weekdays, in one fixed UTC offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BusinessHours {
    offset_minutes: i32,
    /// Monday = bit 0 … Sunday = bit 6.
    days: u8,
    open_minute: u32,
    close_minute: u32,
}

impl BusinessHours {
    pub(crate) fn new(offset_minutes: i32, days: u8, open_minute: u32, close_minute: u32) -> Self {
        Self {
            offset_minutes,
            days,
            open_minute,
            close_minute,
        }
    }

    /// Whether the shop is open at `now_ms`. A range whose close is before its open
    /// runs past midnight; the day that counts is the day it opened.
    pub(crate) fn is_open(&self, now_ms: u64) -> bool {
        let now = i64::try_from(now_ms).unwrap_or(i64::MAX);
        let local = now.saturating_add(i64::from(self.offset_minutes) * MS_PER_MINUTE);
        let day = local.div_euclid(MS_PER_DAY);
        let minute = (local.rem_euclid(MS_PER_DAY) / MS_PER_MINUTE) as u32;
        let open_on = |d: i64| self.days & (1 << weekday(d)) != 0;
        if self.open_minute <= self.close_minute {
            open_on(day) && minute >= self.open_minute && minute < self.close_minute
        } else {
            (open_on(day) && minute >= self.open_minute)
                || (open_on(day - 1) && minute < self.close_minute)
        }
    }
}

/// Monday = 0 … Sunday = 6 for a count of days since 1970-01-01 (a Thursday).
fn weekday(days_since_epoch: i64) -> u32 {
    (days_since_epoch + 3).rem_euclid(7) as u32
}

/// `+08:00`, `-05:30`, `Z` or `+00:00` → minutes east of UTC.
pub(crate) fn parse_offset(text: &str) -> Result<i32, String> {
    if text == "Z" {
        return Ok(0);
    }
    let bad = || format!("utc offset `{text}` is not of the form +HH:MM");
    let (sign, rest) = match text.as_bytes().first() {
        Some(b'+') => (1, &text[1..]),
        Some(b'-') => (-1, &text[1..]),
        _ => return Err(bad()),
    };
    let minutes = parse_clock(rest).map_err(|_| bad())?;
    if minutes > 14 * 60 {
        return Err(format!("utc offset `{text}` is beyond ±14:00"));
    }
    Ok(sign * minutes as i32)
}

/// `HH:MM` (00:00 to 24:00) → minutes since midnight.
pub(crate) fn parse_clock(text: &str) -> Result<u32, String> {
    let bad = || format!("time `{text}` is not of the form HH:MM");
    let (h, m) = text.split_once(':').ok_or_else(bad)?;
    if h.len() != 2 || m.len() != 2 {
        return Err(bad());
    }
    let h: u32 = h.parse().map_err(|_| bad())?;
    let m: u32 = m.parse().map_err(|_| bad())?;
    if m > 59 || h * 60 + m > MINUTES_PER_DAY {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

/// `mon` … `sun` → bit of [`BusinessHours::days`].
pub(crate) fn parse_day(text: &str) -> Result<u8, String> {
    const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    DAYS.iter()
        .position(|d| d.eq_ignore_ascii_case(text))
        .map(|i| 1 << i)
        .ok_or_else(|| format!("day `{text}` is not one of mon, tue, wed, thu, fri, sat, sun"))
}

/// An RFC 3339 timestamp (`2026-11-11T00:00:00+08:00`) → milliseconds since the epoch.
pub(crate) fn parse_instant(text: &str) -> Result<u64, String> {
    let parsed = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map_err(|e| format!("timestamp `{text}` is not RFC 3339: {e}"))?;
    let ms = parsed.unix_timestamp_nanos() / 1_000_000;
    u64::try_from(ms).map_err(|_| format!("timestamp `{text}` is before 1970"))
}

/// A half-open interval of instants `[from, until)`; either end may be open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Window {
    pub from_ms: Option<u64>,
    pub until_ms: Option<u64>,
}

impl Window {
    pub(crate) fn contains(&self, now_ms: u64) -> bool {
        self.from_ms.is_none_or(|f| now_ms >= f) && self.until_ms.is_none_or(|u| now_ms < u)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2026-12-03 (a Thursday) 00:00 UTC.
    const THU_MIDNIGHT_UTC: u64 = 1_796_256_000_000;
    const HOUR: u64 = 3_600_000;

    #[test]
    fn the_reference_instant_is_a_thursday() {
        assert_eq!(parse_instant("2026-12-03T00:00:00Z"), Ok(THU_MIDNIGHT_UTC));
        assert_eq!(weekday((THU_MIDNIGHT_UTC / 86_400_000) as i64), 3);
    }

    #[test]
    fn hours_in_an_offset() {
        // Mon–Fri 09:00–21:00 at +08:00: 01:00 UTC is 09:00 local.
        let hours = BusinessHours::new(480, 0b1_1111, 9 * 60, 21 * 60);
        assert!(!hours.is_open(THU_MIDNIGHT_UTC));
        assert!(hours.is_open(THU_MIDNIGHT_UTC + HOUR));
        assert!(hours.is_open(THU_MIDNIGHT_UTC + 12 * HOUR), "20:00 local");
        assert!(!hours.is_open(THU_MIDNIGHT_UTC + 13 * HOUR), "21:00 local");
        // Saturday 10:00 local is closed.
        assert!(!hours.is_open(THU_MIDNIGHT_UTC + 2 * 24 * HOUR + 2 * HOUR));
    }

    #[test]
    fn overnight_hours_belong_to_the_opening_day() {
        // Friday only, 22:00–06:00 UTC.
        let hours = BusinessHours::new(0, 1 << 4, 22 * 60, 6 * 60);
        let friday = THU_MIDNIGHT_UTC + 24 * HOUR;
        assert!(hours.is_open(friday + 23 * HOUR));
        assert!(
            hours.is_open(friday + 24 * HOUR + 5 * HOUR),
            "saturday 05:00"
        );
        assert!(
            !hours.is_open(friday + 5 * HOUR),
            "friday 05:00 belongs to thursday"
        );
    }

    #[test]
    fn instants_at_the_end_of_time_do_not_overflow() {
        let hours = BusinessHours::new(14 * 60, 0b111_1111, 0, 24 * 60);
        assert!(hours.is_open(u64::MAX), "open all day every day");
        // Monday only, at 1970-01-01 00:00 UTC (a Wednesday at -14:00).
        assert!(!BusinessHours::new(-14 * 60, 1, 60, 0).is_open(0));
    }

    #[test]
    fn offsets_clocks_and_days_parse_strictly() {
        assert_eq!(parse_offset("+08:00"), Ok(480));
        assert_eq!(parse_offset("-05:30"), Ok(-330));
        assert_eq!(parse_offset("Z"), Ok(0));
        assert!(parse_offset("08:00").is_err());
        assert!(parse_offset("+15:00").is_err());
        assert!(parse_offset("+").is_err());
        assert_eq!(parse_clock("24:00"), Ok(1440));
        assert!(parse_clock("24:01").is_err());
        assert!(parse_clock("9:00").is_err());
        assert_eq!(parse_day("Sun"), Ok(1 << 6));
        assert!(parse_day("someday").is_err());
        assert!(parse_instant("2026-11-11").is_err());
    }

    #[test]
    fn windows_are_half_open() {
        let w = Window {
            from_ms: Some(10),
            until_ms: Some(20),
        };
        assert!(!w.contains(9) && w.contains(10) && w.contains(19) && !w.contains(20));
        assert!(Window::default().contains(0));
    }
}
