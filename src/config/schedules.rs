//! Job schedules as `[schedule]` writes them: cron expressions in 5 fields (crontab(5)) or the
//! `cron` crate's 6 or 7, or `off`.

/// A cron expression as `aidpay run` takes it: 6 or 7 fields (seconds first, as the `cron` crate
/// wants), or the usual 5 fields of crontab(5), to which `0 ` (second zero) is prepended. `off`
/// or an empty text switch the job off. Returns the expression used and the schedule.
///
/// In 5 fields the weekday means what crontab(5) says — 0 and 7 are Sunday, 1 is Monday — while
/// the `cron` crate counts 1 = Sunday; so a 5-field weekday is written out as day names
/// (`0 2 * * 1` → `0 0 2 * * MON`). 6 and 7 fields are the `cron` crate's, as documented.
pub fn parse_cron(expr: &str) -> Result<(String, Option<cron::Schedule>), String> {
    let e = expr.trim();
    if e.is_empty() || e.eq_ignore_ascii_case("off") {
        return Ok(("off".into(), None));
    }
    let full = match e.split_whitespace().count() {
        5 => {
            let mut f: Vec<&str> = e.split_whitespace().collect();
            let weekday = crontab_weekdays(f[4]).map_err(|why| format!("'{e}': weekday field '{}': {why}", f[4]))?;
            f[4] = &weekday;
            format!("0 {}", f.join(" "))
        }
        6 | 7 => e.split_whitespace().collect::<Vec<_>>().join(" "),
        n => return Err(format!("'{e}' has {n} fields; write 5 (min hour day month weekday), 6 or 7 (seconds first), or \"off\"")),
    };
    let s = <cron::Schedule as std::str::FromStr>::from_str(&full).map_err(|err| format!("'{e}' is not a cron expression: {err}"))?;
    Ok((full, Some(s)))
}

const DAY_NAMES: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

/// A crontab(5) weekday field (`*`, `1`, `1-5`, `0,6`, `*/2`, `mon-fri`, `7`) as day names.
pub(super) fn crontab_weekdays(field: &str) -> Result<String, String> {
    if field == "*" || field == "?" {
        return Ok(field.into());
    }
    let day = |t: &str| -> Result<usize, String> {
        if let Ok(n) = t.parse::<usize>() {
            return if n <= 7 { Ok(n % 7) } else { Err(format!("{n} is not a weekday (0–7, 0 and 7 are Sunday)")) };
        }
        DAY_NAMES.iter().position(|d| d.eq_ignore_ascii_case(t)).ok_or_else(|| format!("'{t}' is not a weekday"))
    };
    let mut days = [false; 7];
    for item in field.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => (r, s.parse::<usize>().ok().filter(|s| *s > 0).ok_or_else(|| format!("'{s}' is not a step"))?),
            None => (item, 1),
        };
        let (from, to) = match range {
            "*" => (0, 6),
            r => match r.split_once('-') {
                // 7 as a range's end is Sunday at the end of the week (`5-7`: Friday to Sunday).
                Some((a, b)) => (day(a)?, if b == "7" { 7 } else { day(b)? }),
                None if step > 1 => (day(r)?, 6),
                None => (day(r)?, day(r)?),
            },
        };
        if from > to {
            return Err(format!("'{range}' runs backwards"));
        }
        for d in (from..=to).step_by(step) {
            days[d % 7] = true;
        }
    }
    Ok(DAY_NAMES.iter().zip(days).filter(|(_, on)| *on).map(|(n, _)| *n).collect::<Vec<_>>().join(","))
}
