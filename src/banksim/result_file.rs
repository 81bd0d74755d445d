//! The simulated bank's domestic **result file** (回盘文件) for a 代发 batch, laid out exactly as
//! the profile's [`ResultProfile`](crate::formats::domestic::ResultProfile) says, so that
//! aidpay's [`ResultReader`](crate::formats::domestic::ResultReader) reads it.
//!
//! # What a real bank sends, and when
//!
//! After executing a domestic batch, the bank's batch tool or 前置机 hands back one result file
//! per batch: its header line(s) (e.g. `H,batch id,count,total`, or Bank of China's batch line
//! and a title line), then one line per payment with the key back to the request — the
//! end-to-end reference echoed (ICBC's `iSeqno`) or the row number in the batch file (BOC's
//! `RowIndex`) — a status value (成功 / 失败, or codes such as ICBC's 7 / 6) and, for a failure,
//! the reason as Chinese text (户名不符, 账号不存在, 账户已销户, 账户冻结, 卡状态异常, 余额不足 …),
//! often beside a numeric code (`iRetCode`; written here in `skip` columns). Banks agree on the
//! text far more than on the codes, which is why aidpay classifies by the text.
//!
//! A payment returned after it was reported paid (a late 退票) shows up in a **later** result
//! file with the failure status ([`late_return_file`]).
//!
//! Everything is written in the result section's encoding (else the profile's; GBK by default),
//! without replacement: a character that encoding cannot carry is an error, never `&#…;`.

use super::answers::{Fate, Reason};
use super::batch_reader::{SimBatch, SimPayment};
use crate::domain::Fen;
use crate::formats::domestic::profile::{ResultColumn, ResultHeaderColumn};
use crate::formats::domestic::{AmountUnit, DomesticProfile};
use encoding_rs::Encoding;

/// Why a result file cannot be written for a profile.
#[derive(Debug, thiserror::Error)]
pub enum ResultFileError {
    #[error("the bank profile has no result section")]
    NoResultSection,
    #[error("bank profile: {0}")]
    Profile(String),
    #[error("{column} `{value}` has a character {encoding} cannot carry")]
    Unencodable { column: &'static str, value: String, encoding: &'static str },
    #[error("{column} `{value}` contains the delimiter or a line break")]
    Delimiter { column: &'static str, value: String },
}

/// One line to write: a payment (or an unknown reference) with its status.
struct Row<'a> {
    seq: u64,
    end_to_end_id: &'a str,
    card_number: &'a str,
    holder: &'a str,
    amount: Option<Fen>,
    /// `None`: success.
    failure: Option<&'a Reason>,
}

/// The first result file for `batch`: a line per payment in file order (two identical lines for
/// [`Fate::DuplicateStatus`]; the changed amount for [`Fate::ChangedAmount`]; a
/// [`Fate::LateReturn`] as success), then a success line for each of `unknown_references` (its
/// `seq` beyond the batch's last row). The header's count and total are the batch's.
pub fn result_file(
    batch: &SimBatch,
    fates: &[(SimPayment, Fate)],
    unknown_references: &[String],
    profile: &DomesticProfile,
) -> Result<Vec<u8>, ResultFileError> {
    let mut rows = Vec::with_capacity(fates.len() + unknown_references.len());
    for (p, fate) in fates {
        let (amount, failure, times) = match fate {
            Fate::Settle | Fate::LateReturn(_) => (p.amount, None, 1),
            Fate::Reject(reason) => (p.amount, Some(reason), 1),
            Fate::DuplicateStatus => (p.amount, None, 2),
            Fate::ChangedAmount(amount) => (*amount, None, 1),
        };
        for _ in 0..times {
            rows.push(Row {
                seq: p.seq,
                end_to_end_id: &p.end_to_end_id,
                card_number: &p.card_number,
                holder: &p.holder,
                amount: Some(amount),
                failure,
            });
        }
    }
    let last = batch.payments.iter().map(|p| p.seq).max().unwrap_or(0);
    for (i, reference) in unknown_references.iter().enumerate() {
        rows.push(Row {
            seq: last + i as u64 + 1,
            end_to_end_id: reference,
            card_number: "",
            holder: "",
            amount: None,
            failure: None,
        });
    }
    render(profile, &batch.batch_id, batch.payments.len(), batch.total(), &rows)
}

/// The later result file for the payments returned after they were reported paid: a failure
/// line with the return reason for each [`Fate::LateReturn`] (keyed as in the first file: the
/// reference, or the original row number). `Ok(None)` when the batch has none. The header's
/// count and total are those of the returned payments.
pub fn late_return_file(
    batch: &SimBatch,
    fates: &[(SimPayment, Fate)],
    profile: &DomesticProfile,
) -> Result<Option<Vec<u8>>, ResultFileError> {
    let rows: Vec<Row<'_>> = fates
        .iter()
        .filter_map(|(p, f)| match f {
            Fate::LateReturn(reason) => Some(Row {
                seq: p.seq,
                end_to_end_id: &p.end_to_end_id,
                card_number: &p.card_number,
                holder: &p.holder,
                amount: Some(p.amount),
                failure: Some(reason),
            }),
            _ => None,
        })
        .collect();
    if rows.is_empty() {
        return Ok(None);
    }
    let total = rows.iter().filter_map(|r| r.amount).sum();
    render(profile, &batch.batch_id, rows.len(), total, &rows).map(Some)
}

/// The Chinese title of a result column, for the title line some banks write under the batch
/// line (BOC: `序号|收款人账号|收款人姓名|金额|处理状态|失败原因|`).
fn title(column: ResultColumn) -> &'static str {
    match column {
        ResultColumn::EndToEndId => "业务参考号",
        ResultColumn::Seq => "序号",
        ResultColumn::CardNumber => "收款人账号",
        ResultColumn::Holder => "收款人姓名",
        ResultColumn::Amount => "金额",
        ResultColumn::Status => "处理状态",
        ResultColumn::Reason => "失败原因",
        ResultColumn::Skip => "返回码",
    }
}

fn amount_text(amount: Fen, unit: AmountUnit) -> String {
    match unit {
        AmountUnit::Yuan => amount.to_string(),
        AmountUnit::Fen => amount.0.to_string(),
    }
}

/// Lines encoded one field at a time, without replacement.
struct Lines<'p> {
    out: Vec<u8>,
    encoding: &'static Encoding,
    delimiter: &'p str,
    trailing: bool,
    ending: &'static [u8],
}

impl Lines<'_> {
    fn line(&mut self, fields: &[(&'static str, &str)]) -> Result<(), ResultFileError> {
        for (i, (column, value)) in fields.iter().enumerate() {
            if value.contains(self.delimiter) || value.contains(['\r', '\n']) {
                return Err(ResultFileError::Delimiter { column, value: value.to_string() });
            }
            if i > 0 {
                self.out.extend_from_slice(self.delimiter.as_bytes());
            }
            if value.is_ascii() {
                self.out.extend_from_slice(value.as_bytes());
            } else {
                let (bytes, _, unmappable) = self.encoding.encode(value);
                if unmappable {
                    return Err(ResultFileError::Unencodable {
                        column,
                        value: value.to_string(),
                        encoding: self.encoding.name(),
                    });
                }
                self.out.extend_from_slice(&bytes);
            }
        }
        if self.trailing {
            self.out.extend_from_slice(self.delimiter.as_bytes());
        }
        self.out.extend_from_slice(self.ending);
        Ok(())
    }
}

fn render(
    profile: &DomesticProfile,
    batch_id: &str,
    count: usize,
    total: Fen,
    rows: &[Row<'_>],
) -> Result<Vec<u8>, ResultFileError> {
    let section = profile.result.as_ref().ok_or(ResultFileError::NoResultSection)?;
    section.check().map_err(ResultFileError::Profile)?;
    let columns = section.columns().map_err(ResultFileError::Profile)?;
    let header = section.header_columns().map_err(ResultFileError::Profile)?;
    let success =
        section.success_values.first().ok_or_else(|| ResultFileError::Profile("no success value".into()))?.trim();
    let failure =
        section.failure_values.first().ok_or_else(|| ResultFileError::Profile("no failure value".into()))?.trim();
    let unit = profile.amount_unit;
    let mut lines = Lines {
        out: Vec::with_capacity(64 * (rows.len() + section.header_lines)),
        encoding: section.encoding.unwrap_or(profile.encoding).encoding(),
        delimiter: section.delimiter.as_deref().unwrap_or(&profile.delimiter),
        trailing: section.trailing_delimiter.unwrap_or(profile.trailing_delimiter),
        ending: profile.line_ending.as_bytes(),
    };

    let count_text = count.to_string();
    let total_text = amount_text(total, unit);
    for i in 0..section.header_lines {
        if i == 0 && !header.is_empty() {
            let fields: Vec<(&'static str, &str)> = header
                .iter()
                .enumerate()
                .map(|(j, col)| {
                    let value = match col {
                        ResultHeaderColumn::BatchId => batch_id,
                        ResultHeaderColumn::Count => &count_text,
                        ResultHeaderColumn::Total => &total_text,
                        // A record-type marker where banks put one first (ICBC: `H`).
                        ResultHeaderColumn::Skip if j == 0 => "H",
                        ResultHeaderColumn::Skip => "",
                    };
                    (col.name(), value)
                })
                .collect();
            lines.line(&fields)?;
        } else {
            let fields: Vec<(&'static str, &str)> = columns.iter().map(|c| ("title", title(*c))).collect();
            lines.line(&fields)?;
        }
    }

    for row in rows {
        let seq = row.seq.to_string();
        let amount = row.amount.map(|a| amount_text(a, unit)).unwrap_or_default();
        let fields: Vec<(&'static str, &str)> = columns
            .iter()
            .map(|col| {
                let value = match col {
                    ResultColumn::EndToEndId => row.end_to_end_id,
                    ResultColumn::Seq => &seq,
                    ResultColumn::CardNumber => row.card_number,
                    ResultColumn::Holder => row.holder,
                    ResultColumn::Amount => &amount,
                    ResultColumn::Status => {
                        if row.failure.is_some() {
                            failure
                        } else {
                            success
                        }
                    }
                    ResultColumn::Reason => row.failure.map_or("", |r| r.text.as_str()),
                    // The bank's numeric code beside the text (ICBC's iRetCode).
                    ResultColumn::Skip => row.failure.map_or("0000", Reason::bank_code),
                };
                (col.name(), value)
            })
            .collect();
        lines.line(&fields)?;
    }
    Ok(lines.out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::banksim::answers::{AnswerMix, decide};
    use crate::banksim::batch_reader::read_domestic;
    use crate::domain::reason::ReasonTable;
    use crate::formats::domestic::tests::{fixture_profiles, sample_batch};
    use crate::formats::domestic::{LineStatus, ResultLine, ResultReader};

    /// The sample batch written with `key`'s profile and read back by the simulator.
    fn received(key: &str) -> (SimBatch, Vec<String>) {
        let profiles = fixture_profiles();
        let doc = sample_batch();
        let mut out = Vec::new();
        crate::formats::domestic::write(&doc, &profiles[key], &mut out).unwrap_or_else(|e| panic!("{e}"));
        let batch = read_domestic(&out, &profiles[key], "x.txt").unwrap_or_else(|e| panic!("{e}"));
        (batch, doc.payments.iter().map(|p| p.end_to_end_id.clone()).collect())
    }

    fn mix_for(batch: &SimBatch) -> AnswerMix {
        let r = |i: usize| batch.payments[i].end_to_end_id.clone();
        AnswerMix::settle_all()
            .with_reference(r(1), Fate::Reject(Reason::name_mismatch()))
            .with_reference(r(2), Fate::Reject(Reason::wrong_account()))
            .with_reference(r(3), Fate::Reject(Reason::closed()))
            .with_reference(r(4), Fate::Reject(Reason::frozen()))
            .with_reference(r(5), Fate::Reject(Reason::card_abnormal()))
            .with_reference(r(6), Fate::LateReturn(Reason::insufficient_funds()))
    }

    fn read_back(
        key: &str,
        bytes: &[u8],
        refs: &[String],
    ) -> (crate::formats::domestic::ResultHeader, Vec<ResultLine>) {
        let profiles = fixture_profiles();
        let table = ReasonTable::new();
        let reader = ResultReader::new(&profiles[key], &table, bytes).unwrap_or_else(|e| panic!("{e}"));
        let header = reader.header().clone();
        let lines = reader.with_references(refs.to_vec()).map(|l| l.unwrap_or_else(|e| panic!("{e}"))).collect();
        (header, lines)
    }

    fn expect(lines: &[ResultLine], refs: &[String]) {
        let want = [
            (LineStatus::Settled, None),
            (LineStatus::Rejected, Some("BE01")),
            (LineStatus::Rejected, Some("AC01")),
            (LineStatus::Rejected, Some("AC04")),
            (LineStatus::Rejected, Some("AC06")),
            (LineStatus::Rejected, Some("AC06")),
            (LineStatus::Settled, None),
            (LineStatus::Settled, None),
        ];
        assert_eq!(lines.len(), 8);
        for ((line, (status, code)), r) in lines.iter().zip(want).zip(refs) {
            assert_eq!(&line.end_to_end_id, r);
            assert_eq!(line.status, status, "{r}");
            assert_eq!(line.reason_code.as_deref(), code, "{r}");
        }
    }

    #[test]
    fn icbc_result_round_trips_through_the_reader() {
        let profiles = fixture_profiles();
        let (batch, refs) = received("icbc");
        let fates = decide(&batch, &mix_for(&batch));
        let bytes = result_file(&batch, &fates, &[], &profiles["icbc"]).unwrap_or_else(|e| panic!("{e}"));
        let text = encoding_rs::GBK.decode_without_bom_handling_and_without_replacement(&bytes).unwrap_or_default();
        assert!(text.starts_with("H,B20260901-001,8,767550\n"), "{text}");
        assert!(text.contains(",6,3031,户名不符\n"), "{text}");
        let (header, lines) = read_back("icbc", &bytes, &[]);
        assert_eq!(header.batch_id.as_deref(), Some("B20260901-001"));
        assert_eq!(header.total, Some(batch.total()));
        assert_eq!(header.count, Some(8));
        expect(&lines, &refs);
        for (line, p) in lines.iter().zip(&batch.payments) {
            assert_eq!(line.amount, Some(p.amount));
            assert_eq!(line.card_number.as_deref(), Some(p.card_number.as_str()));
        }
        assert!(crate::formats::domestic::looks_like(&profiles["icbc"], &bytes));
    }

    #[test]
    fn boc_result_by_row_number_round_trips() {
        let profiles = fixture_profiles();
        let (batch, refs) = received("boc");
        let fates = decide(&batch, &mix_for(&batch));
        let bytes = result_file(&batch, &fates, &[], &profiles["boc"]).unwrap_or_else(|e| panic!("{e}"));
        let text = encoding_rs::GBK.decode_without_bom_handling_and_without_replacement(&bytes).unwrap_or_default();
        assert!(
            text.starts_with("B20260901-001|8|7675.50|\r\n序号|收款人账号|收款人姓名|金额|处理状态|失败原因|\r\n1|"),
            "{text}"
        );
        let (_, lines) = read_back("boc", &bytes, &refs);
        expect(&lines, &refs);
        assert_eq!(lines[1].holder.as_deref(), Some("买买提·艾力"));
        assert!(crate::formats::domestic::looks_like(&profiles["boc"], &bytes));
    }

    #[test]
    fn late_returns_duplicates_changed_amounts_and_unknown_references() {
        let profiles = fixture_profiles();
        let (batch, refs) = received("icbc");
        let mix = mix_for(&batch)
            .with_reference(refs[0].clone(), Fate::DuplicateStatus)
            .with_reference(refs[7].clone(), Fate::ChangedAmount(Fen(1)));
        let fates = decide(&batch, &mix);
        let bytes = result_file(&batch, &fates, &["NEVER-SENT".to_string()], &profiles["icbc"])
            .unwrap_or_else(|e| panic!("{e}"));
        let (_, lines) = read_back("icbc", &bytes, &[]);
        assert_eq!(lines.len(), 10);
        assert_eq!(lines[0].end_to_end_id, lines[1].end_to_end_id, "the same status twice");
        assert_eq!(lines[8].amount, Some(Fen(1)));
        assert_eq!((lines[9].end_to_end_id.as_str(), lines[9].status), ("NEVER-SENT", LineStatus::Settled));

        let late =
            late_return_file(&batch, &fates, &profiles["icbc"]).unwrap_or_else(|e| panic!("{e}")).unwrap_or_default();
        let (header, lines) = read_back("icbc", &late, &[]);
        assert_eq!(header.count, Some(1));
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].end_to_end_id, refs[6]);
        assert_eq!((lines[0].status, lines[0].reason_code.as_deref()), (LineStatus::Rejected, Some("AM04")));

        // BOC: the late line keeps its original row number.
        let (batch, refs) = received("boc");
        let fates = decide(&batch, &mix_for(&batch));
        let late =
            late_return_file(&batch, &fates, &profiles["boc"]).unwrap_or_else(|e| panic!("{e}")).unwrap_or_default();
        let (_, lines) = read_back("boc", &late, &refs);
        assert_eq!((lines[0].seq, lines[0].end_to_end_id.as_str()), (Some(7), refs[6].as_str()));
        assert!(
            late_return_file(&batch, &decide(&batch, &AnswerMix::default()), &profiles["boc"])
                .unwrap_or_else(|e| panic!("{e}"))
                .is_none()
        );
    }

    #[test]
    fn unwritable_values_are_errors() {
        let profiles = fixture_profiles();
        let (batch, _) = received("icbc");
        let fates = decide(&batch, &AnswerMix::default());
        assert!(matches!(
            result_file(&batch, &fates, &["A,B".into()], &profiles["icbc"]),
            Err(ResultFileError::Delimiter { .. })
        ));
        let weird = decide(
            &batch,
            &AnswerMix::default()
                .with_reference(batch.payments[0].end_to_end_id.clone(), Fate::Reject(Reason::new("MS03", "𠮷"))),
        );
        assert!(matches!(
            result_file(&batch, &weird, &[], &profiles["icbc"]),
            Err(ResultFileError::Unencodable { .. })
        ));
        let mut none = profiles["icbc"].clone();
        none.result = None;
        assert!(matches!(result_file(&batch, &fates, &[], &none), Err(ResultFileError::NoResultSection)));
    }
}
