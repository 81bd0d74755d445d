//! Charts as SVG text, for the HTML reports and the web console: plain functions over plain data,
//! no store, no file. (The XLSX reports carry native Excel charts instead, see [`super::period`].)
//!
//! Every coordinate is an integer: amounts stay in fen on the value axis (its labels show yuan,
//! formatted from the integer), months and dates are positions on the category axis. Text is drawn
//! as SVG `<text>` in a sans-serif font, so the browser renders the Chinese labels with its own
//! fonts (nothing is rasterised, no font file is needed on the server).
//!
//! A chart with no data is still a valid SVG, saying `无数据`.

use plotters::prelude::*;
use std::collections::BTreeSet;

const WIDTH: u32 = 720;
const HEIGHT: u32 = 320;

/// One colour per series, in order (a program's colour is stable within one chart).
const PALETTE: [RGBColor; 8] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x94, 0x67, 0xbd),
    RGBColor(0x8c, 0x56, 0x4b),
    RGBColor(0xe3, 0x77, 0xc2),
    RGBColor(0x7f, 0x7f, 0x7f),
];

/// `123456` fen → `1,234.56`, the value axis's labels; large amounts as 万元 to stay short.
fn yuan_label(fen: i64) -> String {
    if fen.abs() >= 100_000_000 {
        // ≥ 1,000,000 yuan: 万元 with one decimal.
        let wan_tenths = fen / 100_000;
        format!("{}.{}万", wan_tenths / 10, (wan_tenths % 10).abs())
    } else {
        let yuan = fen / 100;
        let mut s = String::new();
        let digits = yuan.abs().to_string();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                s.push(',');
            }
            s.push(c);
        }
        if yuan < 0 { format!("-{s}") } else { s }
    }
}

/// A rounded-up top for the value axis, so the highest bar does not touch the frame.
fn axis_top(max: i64) -> i64 {
    if max <= 0 {
        return 100;
    }
    let mut step: i64 = 1;
    while step * 10 <= max {
        step *= 10;
    }
    (max / step + 1) * step
}

fn empty_svg(title: &str) -> String {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (WIDTH, HEIGHT)).into_drawing_area();
        let _ = root.fill(&WHITE);
        let _ = root.titled(title, ("sans-serif", 18));
        let _ = root.draw(&Text::new("无数据", ((WIDTH / 2 - 30) as i32, (HEIGHT / 2) as i32), ("sans-serif", 16)));
        let _ = root.present();
    }
    out
}

/// Paid per month by program, as grouped bars: `rows` are `(month "2026-11", program, fen)`.
/// Months in their text order, programs in the order of their first appearance.
pub fn paid_per_month_svg(rows: &[(String, String, i64)]) -> String {
    let title = "各月发放金额（按资助项目，元）";
    if rows.is_empty() {
        return empty_svg(title);
    }
    let months: Vec<String> = rows.iter().map(|r| r.0.clone()).collect::<BTreeSet<_>>().into_iter().collect();
    let mut programs: Vec<String> = Vec::new();
    for r in rows {
        if !programs.contains(&r.1) {
            programs.push(r.1.clone());
        }
    }
    // One slot per program and one empty slot between months.
    let slots = programs.len() as i32 + 1;
    let n = months.len() as i32;
    let max = rows.iter().map(|r| r.2).max().unwrap_or(0);
    let top = axis_top(max);
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (WIDTH, HEIGHT)).into_drawing_area();
        let _ = root.fill(&WHITE);
        let Ok(mut chart) = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(80)
            .build_cartesian_2d(0..n * slots, 0i64..top)
        else {
            return empty_svg(title);
        };
        let month_of = |x: &i32| -> String {
            let m = (*x / slots) as usize;
            if *x % slots == slots / 2 { months.get(m).cloned().unwrap_or_default() } else { String::new() }
        };
        let _ = chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels((n * slots) as usize + 1)
            .x_label_formatter(&month_of)
            .y_label_formatter(&|v: &i64| yuan_label(*v))
            .label_style(("sans-serif", 12))
            .draw();
        for (p, program) in programs.iter().enumerate() {
            let color = PALETTE[p % PALETTE.len()];
            let bars: Vec<Rectangle<(i32, i64)>> = rows
                .iter()
                .filter(|r| &r.1 == program)
                .filter_map(|r| {
                    let m = months.iter().position(|x| x == &r.0)? as i32;
                    let x = m * slots + p as i32;
                    Some(Rectangle::new([(x, 0), (x + 1, r.2)], color.filled()))
                })
                .collect();
            if let Ok(series) = chart.draw_series(bars) {
                series.label(program.as_str()).legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], color.filled()));
            }
        }
        let _ = chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .label_font(("sans-serif", 12))
            .draw();
        let _ = root.present();
    }
    out
}

/// The special account's balance over time, as a line: `points` are `(date "2026-11-05", fen)`
/// in date order (sorted here if not).
pub fn balance_svg(points: &[(String, i64)]) -> String {
    let title = "专户余额（元）";
    if points.is_empty() {
        return empty_svg(title);
    }
    let mut pts = points.to_vec();
    pts.sort_by(|a, b| a.0.cmp(&b.0));
    let n = pts.len() as i32;
    let max = pts.iter().map(|p| p.1).max().unwrap_or(0);
    let min = pts.iter().map(|p| p.1).min().unwrap_or(0).min(0);
    let top = axis_top(max);
    let bottom = if min < 0 { -axis_top(-min) } else { 0 };
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (WIDTH, HEIGHT)).into_drawing_area();
        let _ = root.fill(&WHITE);
        let Ok(mut chart) = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(80)
            .build_cartesian_2d(0..(n - 1).max(1), bottom..top)
        else {
            return empty_svg(title);
        };
        let date_of = |x: &i32| pts.get(*x as usize).map(|p| p.0.clone()).unwrap_or_default();
        let _ = chart
            .configure_mesh()
            .x_labels((n as usize).min(8))
            .x_label_formatter(&date_of)
            .y_label_formatter(&|v: &i64| yuan_label(*v))
            .label_style(("sans-serif", 12))
            .draw();
        let color = PALETTE[0];
        let _ = chart.draw_series(LineSeries::new(pts.iter().enumerate().map(|(i, p)| (i as i32, p.1)), color.stroke_width(2)));
        let _ = chart.draw_series(pts.iter().enumerate().map(|(i, p)| Circle::new((i as i32, p.1), 3, color.filled())));
        let _ = root.present();
    }
    out
}

/// Open exceptions by kind, as bars: `rows` are `(kind label "银行拒绝", count)`.
pub fn open_exceptions_svg(rows: &[(String, i64)]) -> String {
    let title = "未处理异常（按类别，条）";
    if rows.is_empty() {
        return empty_svg(title);
    }
    let n = rows.len() as i32;
    let top = axis_top(rows.iter().map(|r| r.1).max().unwrap_or(0));
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (WIDTH, HEIGHT)).into_drawing_area();
        let _ = root.fill(&WHITE);
        let Ok(mut chart) = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(50)
            .build_cartesian_2d(0..n * 3, 0i64..top)
        else {
            return empty_svg(title);
        };
        let kind_of = |x: &i32| if *x % 3 == 1 { rows.get((*x / 3) as usize).map(|r| r.0.clone()).unwrap_or_default() } else { String::new() };
        let _ = chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels((n * 3) as usize + 1)
            .x_label_formatter(&kind_of)
            .label_style(("sans-serif", 12))
            .draw();
        let color = PALETTE[3];
        let _ = chart.draw_series(rows.iter().enumerate().map(|(i, r)| {
            let x = i as i32 * 3;
            Rectangle::new([(x, 0), (x + 2, r.1)], color.filled())
        }));
        let _ = root.present();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_line_and_empty_are_svg() {
        let rows = vec![
            ("2026-10".to_string(), "国家助学金".to_string(), 250_000),
            ("2026-11".to_string(), "国家助学金".to_string(), 120_000),
            ("2026-11".to_string(), "寄宿生生活补助".to_string(), 62_500),
        ];
        let svg = paid_per_month_svg(&rows);
        assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(200)]);
        assert!(svg.contains("国家助学金") && svg.contains("2026-11") && svg.contains("</svg>"));
        assert!(svg.matches("<rect").count() >= 3);
        let line = balance_svg(&[("2026-11-01".into(), 1_000_000), ("2026-11-05".into(), 400_000)]);
        assert!(line.contains("<polyline") || line.contains("<path"), "{line}");
        assert!(empty_svg("x").contains("无数据"));
        assert!(open_exceptions_svg(&[]).contains("无数据"));
        assert!(open_exceptions_svg(&[("银行拒绝".into(), 2)]).contains("银行拒绝"));
        assert_eq!(yuan_label(123_456), "1,234");
        assert_eq!(yuan_label(250_000_000), "250.0万");
    }
}
