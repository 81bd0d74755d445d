//! The dashboard's two charts as SVG drawn on the server (plotters), so pages need no script:
//! money paid per month by program (stacked bars) and the special account's balance over time
//! (a line by statement date). Amounts are whole yuan on the axis — integers, never floats.

use crate::store::PaidInMonth;
use plotters::prelude::*;
use std::collections::BTreeMap;

const SIZE: (u32, u32) = (560, 300);
const FONT: &str = "WenQuanYi Micro Hei, Microsoft YaHei, sans-serif";
const PALETTE: [RGBColor; 6] =
    [RGBColor(139, 26, 26), RGBColor(37, 99, 160), RGBColor(214, 140, 32), RGBColor(60, 140, 80), RGBColor(120, 80, 160), RGBColor(90, 90, 90)];

fn yuan_label(y: &i64) -> String {
    if y.abs() >= 10_000 { format!("{}.{}万", y / 10_000, (y.abs() % 10_000) / 1_000) } else { y.to_string() }
}

fn empty(message: &str) -> String {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        let _ = root.fill(&WHITE);
        let _ = root.draw(&Text::new(message.to_string(), (200, 140), (FONT, 18).into_font().color(&RGBColor(110, 120, 130))));
        let _ = root.present();
    }
    svg
}

/// Paid per month, one bar per month stacked by program, with a legend.
pub fn paid_per_month_svg(rows: &[PaidInMonth]) -> String {
    if rows.is_empty() {
        return empty("尚无已发放的款项");
    }
    let months: Vec<String> = rows.iter().map(|r| r.month.clone()).collect::<std::collections::BTreeSet<_>>().into_iter().collect();
    let programs: Vec<String> = rows.iter().map(|r| r.program.clone()).collect::<std::collections::BTreeSet<_>>().into_iter().collect();
    let mut cell: BTreeMap<(usize, usize), i64> = BTreeMap::new();
    for r in rows {
        let m = months.iter().position(|x| *x == r.month).unwrap_or(0);
        let p = programs.iter().position(|x| *x == r.program).unwrap_or(0);
        *cell.entry((m, p)).or_default() += r.total_fen / 100;
    }
    let top = (0..months.len()).map(|m| (0..programs.len()).map(|p| cell.get(&(m, p)).copied().unwrap_or(0)).sum::<i64>()).max().unwrap_or(0);
    let mut svg = String::new();
    let drawn: Result<(), Box<dyn std::error::Error>> = (|| {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE)?;
        let n = months.len() as i64;
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(28)
            .y_label_area_size(56)
            // Month m's bar spans 2m..2m+2, so its label sits under its middle, at 2m+1.
            .build_cartesian_2d(0i64..2 * n.max(6), 0i64..(top + top / 3 + 1))?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(2 * n.max(6) as usize + 1)
            .x_label_formatter(&|x| if x % 2 == 1 { months.get((*x / 2) as usize).cloned().unwrap_or_default() } else { String::new() })
            .y_label_formatter(&yuan_label)
            .y_desc("元")
            .label_style((FONT, 12))
            .draw()?;
        for (p, program) in programs.iter().enumerate() {
            let color = PALETTE[p % PALETTE.len()];
            let bars: Vec<Rectangle<(i64, i64)>> = (0..months.len())
                .filter_map(|m| {
                    let below: i64 = (0..p).map(|q| cell.get(&(m, q)).copied().unwrap_or(0)).sum();
                    let v = cell.get(&(m, p)).copied()?;
                    let mut bar = Rectangle::new([(2 * m as i64, below), (2 * m as i64 + 2, below + v)], color.filled());
                    bar.set_margin(0, 0, 12, 12);
                    Some(bar)
                })
                .collect();
            chart
                .draw_series(bars)?
                .label(program.clone())
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], color.filled()));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.filled())
            .border_style(RGBColor(190, 198, 206))
            .label_font((FONT, 12))
            .draw()?;
        root.present()?;
        Ok(())
    })();
    match drawn {
        Ok(()) => svg,
        Err(e) => {
            tracing::warn!("console chart (paid per month): {e}");
            empty("图表暂时无法生成")
        }
    }
}

/// The balance by statement date, as a line with its points.
pub fn balance_svg(points: &[(String, i64)]) -> String {
    if points.is_empty() {
        return empty("尚无专户对账单");
    }
    let values: Vec<i64> = points.iter().map(|(_, fen)| fen / 100).collect();
    let (lo, hi) = (values.iter().min().copied().unwrap_or(0).min(0), values.iter().max().copied().unwrap_or(0));
    let mut svg = String::new();
    let drawn: Result<(), Box<dyn std::error::Error>> = (|| {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE)?;
        let n = points.len() as i64;
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(28)
            .y_label_area_size(56)
            .build_cartesian_2d(0i64..n.max(2) - 1, lo..(hi + (hi - lo) / 8 + 1))?;
        chart
            .configure_mesh()
            .x_labels(points.len().min(8))
            .x_label_formatter(&|x| points.get(*x as usize).map(|(d, _)| d.get(5..).unwrap_or(d).to_string()).unwrap_or_default())
            .y_label_formatter(&yuan_label)
            .y_desc("元")
            .label_style((FONT, 12))
            .draw()?;
        let line: Vec<(i64, i64)> = values.iter().enumerate().map(|(i, v)| (i as i64, *v)).collect();
        chart.draw_series(LineSeries::new(line.clone(), PALETTE[1].stroke_width(2)))?;
        chart.draw_series(line.into_iter().map(|p| Circle::new(p, 3, PALETTE[1].filled())))?;
        root.present()?;
        Ok(())
    })();
    match drawn {
        Ok(()) => svg,
        Err(e) => {
            tracing::warn!("console chart (balance): {e}");
            empty("图表暂时无法生成")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_are_svg_with_their_labels() {
        let rows = vec![
            PaidInMonth { month: "2026-10".into(), program: "国家助学金".into(), total_fen: 123_400 },
            PaidInMonth { month: "2026-11".into(), program: "国家助学金".into(), total_fen: 50_000 },
            PaidInMonth { month: "2026-11".into(), program: "两免一补".into(), total_fen: 25_000 },
        ];
        let svg = paid_per_month_svg(&rows);
        assert!(svg.starts_with("<svg") && svg.contains("2026-11") && svg.contains("两免一补"), "{svg}");
        let svg = balance_svg(&[("2026-10-31".into(), 1_000_000), ("2026-11-30".into(), 400_000)]);
        assert!(svg.contains("<polyline") || svg.contains("<path"), "{svg}");
        assert!(paid_per_month_svg(&[]).contains("尚无"));
    }
}
