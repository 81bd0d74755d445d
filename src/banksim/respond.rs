//! Answering received batches the way a bank does: read the file, decide every payment's fate,
//! and write the answer in the file's own world — a pain.002 for a pain.001, a result file for a
//! domestic 代发 file. Later, for the payments returned after they were reported paid, a second
//! answer ([`late_answer`]).
//!
//! The gateway side keeps its answers in the simulator's state
//! ([`BankSimHandle::answer_all`](super::BankSimHandle::answer_all)); the drop-folder side is a
//! plain function ([`answer_dropped`]) whose files a test or the demo writes into aidpay's inbox.
//! Everything is deterministic given the mix, the options and the order of the files.

use super::answers::{AnswerMix, Fate, decide};
use super::batch_reader::{BatchReadError, SimBatch, SimFormat, SimPayment, read_received};
use super::dropfolder::PickedUp;
use super::pain002::{self, Pain002Version};
use super::result_file::{self, ResultFileError};
use crate::formats::domestic::DomesticProfile;
use chrono::{DateTime, FixedOffset};

/// How the simulated bank answers.
#[derive(Debug, Clone)]
pub struct AnswerOptions {
    /// The pain.002 version for pain.001 batches.
    pub pain002_version: Pain002Version,
    /// The profile domestic (non-XML) batches are read and answered with; a domestic batch
    /// without one is an error.
    pub domestic: Option<DomesticProfile>,
    /// `CreDtTm` of the answers, and the stamp in their message ids.
    pub created_at: DateTime<FixedOffset>,
}

impl AnswerOptions {
    /// pain.002.001.03, no domestic profile.
    pub fn new(created_at: DateTime<FixedOffset>) -> Self {
        AnswerOptions { pain002_version: Pain002Version::V03, domestic: None, created_at }
    }
}

/// Why the simulator could not answer.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("the simulated bank cannot read {file_name}: {source}")]
    Read {
        file_name: String,
        #[source]
        source: BatchReadError,
    },
    #[error("the simulated bank cannot write the result file for {file_name}: {source}")]
    ResultFile {
        file_name: String,
        #[source]
        source: ResultFileError,
    },
}

/// One batch the bank has answered, and its answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnsweredBatch {
    /// The name the batch file arrived under.
    pub received_file: String,
    pub batch: SimBatch,
    pub fates: Vec<(SimPayment, Fate)>,
    /// The answer's file name: `pain002_<batch>.xml` or `result_<batch>.<ext>`.
    pub answer_name: String,
    pub answer: Vec<u8>,
}

impl AnsweredBatch {
    /// The batch and its fates, as [`statement_for`](super::statement::statement_for) takes them.
    pub fn executed(&self) -> (SimBatch, Vec<(SimPayment, Fate)>) {
        (self.batch.clone(), self.fates.clone())
    }

    /// Does a late answer follow ([`Fate::LateReturn`] among the fates)?
    pub fn has_late_returns(&self) -> bool {
        self.fates.iter().any(|(_, f)| matches!(f, Fate::LateReturn(_)))
    }
}

/// A message id for the `n`-th answer stamped `created_at`: `RPT20261126090000` + 5 digits
/// (22 characters, within `Max35Text`).
pub fn report_id(prefix: &str, created_at: &DateTime<FixedOffset>, n: u64) -> String {
    format!("{prefix}{}{n:05}", created_at.format("%Y%m%d%H%M%S"))
}

/// Reads one received file, decides its fates and writes its first answer; `unknown_references`
/// are reported in it as statuses for references never sent.
pub fn answer_file(
    file_name: &str,
    bytes: &[u8],
    mix: &AnswerMix,
    opts: &AnswerOptions,
    unknown_references: &[String],
    msg_id: &str,
) -> Result<AnsweredBatch, SimError> {
    let batch = read_received(file_name, bytes, opts.domestic.as_ref())
        .map_err(|source| SimError::Read { file_name: file_name.to_string(), source })?;
    let fates = decide(&batch, mix);
    let (answer_name, answer) = match &batch.format {
        SimFormat::Pain001 { .. } => (
            format!("pain002_{}.xml", safe(&batch.batch_id)),
            pain002::status_report(&batch, &fates, unknown_references, opts.pain002_version, msg_id, &opts.created_at),
        ),
        SimFormat::Domestic => {
            let profile = domestic_profile(file_name, opts)?;
            let bytes = result_file::result_file(&batch, &fates, unknown_references, profile)
                .map_err(|source| SimError::ResultFile { file_name: file_name.to_string(), source })?;
            (format!("result_{}.{}", safe(&batch.batch_id), extension(file_name)), bytes)
        }
    };
    Ok(AnsweredBatch { received_file: file_name.to_string(), batch, fates, answer_name, answer })
}

/// The second answer of a batch with late returns: a pain.002 with RJCT after the earlier ACSC,
/// or a later result file with the failure status (`…_late.xml` / `result_<batch>_late.<ext>`).
/// `Ok(None)` when the batch has none.
pub fn late_answer(
    answered: &AnsweredBatch,
    opts: &AnswerOptions,
    msg_id: &str,
) -> Result<Option<(String, Vec<u8>)>, SimError> {
    let batch = &answered.batch;
    match &batch.format {
        SimFormat::Pain001 { .. } => {
            Ok(pain002::late_return_report(batch, &answered.fates, opts.pain002_version, msg_id, &opts.created_at)
                .map(|bytes| (format!("pain002_{}_late.xml", safe(&batch.batch_id)), bytes)))
        }
        SimFormat::Domestic => {
            let file_name = &answered.received_file;
            let profile = domestic_profile(file_name, opts)?;
            let bytes = result_file::late_return_file(batch, &answered.fates, profile)
                .map_err(|source| SimError::ResultFile { file_name: file_name.clone(), source })?;
            Ok(bytes.map(|b| (format!("result_{}_late.{}", safe(&batch.batch_id), extension(file_name)), b)))
        }
    }
}

/// Answers every file the bank's front-end picked up from a drop folder, in order: the first
/// answer of each (the mix's unknown references go into the first one). Message ids are
/// [`report_id`]`("RPT", created_at, 1…)`. Write the returned files into aidpay's inbox; for the
/// late answers and the statement use [`answer_picked`].
pub fn answer_dropped(
    picked: &[PickedUp],
    mix: &AnswerMix,
    opts: &AnswerOptions,
) -> Result<Vec<(String, Vec<u8>)>, SimError> {
    Ok(answer_picked(picked, mix, opts)?.into_iter().map(|a| (a.answer_name, a.answer)).collect())
}

/// [`answer_dropped`] keeping the batches and fates, for [`late_answer`] and
/// [`statement_for`](super::statement::statement_for).
pub fn answer_picked(
    picked: &[PickedUp],
    mix: &AnswerMix,
    opts: &AnswerOptions,
) -> Result<Vec<AnsweredBatch>, SimError> {
    picked
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let unknown: &[String] = if i == 0 { &mix.unknown_references } else { &[] };
            answer_file(&p.file_name, &p.bytes, mix, opts, unknown, &report_id("RPT", &opts.created_at, i as u64 + 1))
        })
        .collect()
}

fn domestic_profile<'o>(file_name: &str, opts: &'o AnswerOptions) -> Result<&'o DomesticProfile, SimError> {
    opts.domestic.as_ref().ok_or_else(|| SimError::Read {
        file_name: file_name.to_string(),
        source: BatchReadError::Profile("a domestic batch needs AnswerOptions::domestic".to_string()),
    })
}

/// A batch id as a file-name part: anything but `[A-Za-z0-9._-]` becomes `_`.
fn safe(id: &str) -> String {
    id.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') { c } else { '_' }).collect()
}

/// The received file's extension (`csv`, `txt`), `txt` when it has none.
fn extension(file_name: &str) -> String {
    match file_name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() && !ext.is_empty() && ext.chars().all(|c| c.is_ascii_alphanumeric()) => {
            ext.to_ascii_lowercase()
        }
        _ => "txt".to_string(),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::banksim::answers::Reason;
    use crate::banksim::statement::{Booking, Camt053Version, StatementOptions, camt053, statement_for};
    use crate::domain::Fen;
    use crate::formats::domestic::tests::{fixture_profiles, sample_batch};
    use crate::formats::pain001::{self, Pain001Version};
    use chrono::TimeZone;

    pub(crate) fn at() -> DateTime<FixedOffset> {
        FixedOffset::east_opt(8 * 3600)
            .and_then(|tz| tz.with_ymd_and_hms(2026, 11, 26, 9, 0, 0).single())
            .unwrap_or_default()
    }

    /// The sample batch as a pain.001 and as an ICBC file, as the front-end picks them up.
    pub(crate) fn picked() -> Vec<PickedUp> {
        let profiles = fixture_profiles();
        let mut doc = sample_batch();
        let mut xml = Vec::new();
        pain001::write(&doc, Pain001Version::V09, &mut xml).unwrap_or_else(|e| panic!("{e}"));
        doc.batch_id = "B20260901-002".into();
        for p in &mut doc.payments {
            p.end_to_end_id = p.end_to_end_id.replace("-001-", "-002-");
        }
        let mut csv = Vec::new();
        crate::formats::domestic::write(&doc, &profiles["icbc"], &mut csv).unwrap_or_else(|e| panic!("{e}"));
        vec![
            PickedUp { file_name: "B20260901-001.xml".into(), bytes: xml },
            PickedUp { file_name: "PAYENT_1_B20260901-002_20260901.csv".into(), bytes: csv },
        ]
    }

    #[test]
    fn dropped_files_get_their_answers() {
        let opts = AnswerOptions { domestic: Some(fixture_profiles()["icbc"].clone()), ..AnswerOptions::new(at()) };
        let mix = AnswerMix::settle_all()
            .with_reference("B20260901-001-0002", Fate::Reject(Reason::name_mismatch()))
            .with_unknown_reference("AP999999999999");
        let files = answer_dropped(&picked(), &mix, &opts).unwrap_or_else(|e| panic!("{e}"));
        let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["pain002_B20260901-001.xml", "result_B20260901-002.csv"]);
        let xml = String::from_utf8_lossy(&files[0].1);
        assert!(xml.contains("<MsgId>RPT2026112609000000001</MsgId>") && xml.contains("AP999999999999"));
        assert_eq!(xml.matches("<TxSts>RJCT</TxSts>").count(), 1);
        assert_eq!(files, answer_dropped(&picked(), &mix, &opts).unwrap_or_default(), "deterministic");

        let no_profile = answer_dropped(&picked(), &mix, &AnswerOptions::new(at()));
        assert!(matches!(no_profile, Err(SimError::Read { file_name, .. }) if file_name.starts_with("PAYENT")));
    }

    #[test]
    fn late_answers_and_the_statement_follow() {
        let opts = AnswerOptions { domestic: Some(fixture_profiles()["icbc"].clone()), ..AnswerOptions::new(at()) };
        let mix = AnswerMix::settle_all()
            .with_card(sample_batch().payments[2].card_number.clone(), Fate::LateReturn(Reason::closed()));
        let answered = answer_picked(&picked(), &mix, &opts).unwrap_or_else(|e| panic!("{e}"));
        let late: Vec<String> = answered
            .iter()
            .filter_map(|a| late_answer(a, &opts, "LRT1").unwrap_or_else(|e| panic!("{e}")))
            .map(|(n, _)| n)
            .collect();
        assert_eq!(late, ["pain002_B20260901-001_late.xml", "result_B20260901-002_late.csv"]);

        let executed: Vec<_> = answered.iter().map(AnsweredBatch::executed).collect();
        let day = executed[0].0.execution_date.unwrap_or_default();
        let spec = statement_for(
            &executed,
            Fen(100_000_000),
            Booking::Gross,
            &StatementOptions {
                account_no: "1".into(),
                account_name: None,
                statement_id: "S1".into(),
                from_date: day,
                to_date: day,
                with_details: true,
                late_returns: true,
            },
        );
        assert_eq!(spec.entries.iter().filter(|e| e.is_credit()).count(), 2, "one late return per batch");
        let text = String::from_utf8(camt053(&spec, Camt053Version::V02, &at())).unwrap_or_default();
        assert!(text.contains("<PmtInfId>B20260901-002</PmtInfId>"));
    }

    #[test]
    fn names_are_safe() {
        assert_eq!(safe("B/1 x"), "B_1_x");
        assert_eq!(extension("DF_1_2.TXT"), "txt");
        assert_eq!(extension("noext"), "txt");
        assert_eq!(extension(".hidden"), "txt");
    }
}
