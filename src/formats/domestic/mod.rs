//! The banks' delimited 代发 / 批量代付 files, one configured [`DomesticProfile`] per bank:
//!
//! - [`profile`]: the template as data — columns, delimiter, encoding (GBK by default), amount
//!   unit, byte limits, file name, lines per file, and the result file's layout;
//! - [`writer`]: a [`BatchDoc`](crate::formats::BatchDoc) → the batch file, all or nothing, with
//!   the per-payment pre-flight [`check_line`] the batch code runs before batching;
//! - [`result`]: the bank's result file (回盘文件) → [`ResultLine`]s with ISO reason codes
//!   (through [`ReasonTable`](crate::domain::reason::ReasonTable)), and [`looks_like`] for
//!   detecting a file's kind by content.
//!
//! Everything here is pure: bytes in, records out, and the other way round. `fixtures/bank/`
//! holds two example profiles (`boc`, `icbc`) and the files the tests read.

pub mod profile;
pub mod result;
pub mod writer;

pub use profile::{AmountUnit, DomesticProfile, LineEnding, ResultProfile, TextEncoding};
pub use result::{LineStatus, ResultError, ResultHeader, ResultLine, ResultReader, looks_like};
pub use writer::{DomesticError, LineChecker, LineProblem, check_line, file_name, write};

#[cfg(test)]
pub(crate) mod tests {
    //! Shared test helpers: the fixture profiles, a sample batch, and the regeneration of the
    //! committed fixture files.

    use super::*;
    use crate::domain::Fen;
    use crate::formats::{BatchDoc, Debtor, PaymentLine};
    use chrono::{FixedOffset, NaiveDate, TimeZone};
    use std::collections::HashMap;
    use std::path::PathBuf;
    use std::sync::LazyLock;

    pub fn fixture_path(name: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/bank").join(name)
    }

    /// `fixtures/bank/profiles.toml`, read the way the daemon's configuration is (the `config`
    /// crate), keyed `boc` and `icbc`.
    pub fn fixture_profiles() -> HashMap<String, DomesticProfile> {
        static PROFILES: LazyLock<HashMap<String, DomesticProfile>> = LazyLock::new(|| {
            let path = fixture_path("profiles.toml");
            let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            config::Config::builder()
                .add_source(config::File::from_str(&text, config::FileFormat::Toml))
                .build()
                .and_then(|c| c.try_deserialize())
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        });
        PROFILES.clone()
    }

    /// A small valid profile to vary in tests.
    pub fn minimal_profile() -> DomesticProfile {
        serde_json::from_value(serde_json::json!({
            "amount_unit": "yuan",
            "header": ["count", "total"],
            "detail": ["seq", "end_to_end_id", "card_number", "holder", "amount"],
            "file_name": "{batch_id}.txt",
            "max_lines": 100,
            "result": {
                "detail": ["end_to_end_id", "status", "reason"],
                "success_values": ["成功"],
                "failure_values": ["失败"],
            },
        }))
        .unwrap_or_else(|e| panic!("{e}"))
    }

    /// One payment line with the given holder and amount in fen.
    pub fn line(i: usize, holder: &str, fen: i64) -> PaymentLine {
        PaymentLine {
            end_to_end_id: format!("B20260901-001-{i:04}"),
            amount: Fen(fen),
            card_number: format!("62170000100{i:08}"),
            holder: holder.to_string(),
            bank_name: "中国银行福州鼓楼支行".to_string(),
            cnaps: Some("104391000021".to_string()),
            remittance: "2026秋 国家助学金".to_string(),
        }
    }

    /// Eight payments with Chinese (and Uyghur) names; total 7675.50 yuan.
    pub fn sample_batch() -> BatchDoc {
        let names = [
            ("张三", 50_000),
            ("买买提·艾力", 100_050),
            ("欧阳娜娜", 62_500),
            ("李四", 200_000),
            ("王小明", 150_000),
            ("阿依古丽·吐尔逊", 75_000),
            ("陈静", 30_001),
            ("刘洋", 99_999),
        ];
        let mut payments: Vec<PaymentLine> = names.iter().enumerate().map(|(i, (n, f))| line(i + 1, n, *f)).collect();
        payments[3].bank_name = "中国农业银行闽侯县支行".to_string();
        payments[3].cnaps = None;
        payments[6].bank_name = "福建省农村信用社联合社".to_string();
        payments[6].cnaps = Some("402391000011".to_string());
        let offset = FixedOffset::east_opt(8 * 3600).unwrap_or_else(|| panic!("UTC+8"));
        BatchDoc {
            batch_id: "B20260901-001".to_string(),
            created_at: offset.with_ymd_and_hms(2026, 8, 31, 10, 0, 0).single().unwrap_or_else(|| panic!("date")),
            execution_date: NaiveDate::from_ymd_opt(2026, 9, 1).unwrap_or_else(|| panic!("date")),
            debtor: Debtor {
                account_no: "350101200000001234".to_string(),
                name: "某某区学生资助管理中心".to_string(),
                bank_name: "中国银行福州鼓楼支行".to_string(),
                cnaps: Some("104391000021".to_string()),
            },
            payments,
        }
    }

    /// Splits a decoded line into its fields as the profile lays them out.
    pub fn split_fields(profile: &DomesticProfile, line: &str) -> Vec<String> {
        let d = profile.delimiter.as_str();
        let line = if profile.trailing_delimiter { line.strip_suffix(d).unwrap_or(line) } else { line };
        line.split(d).map(str::to_string).collect()
    }

    fn gbk(text: &str) -> Vec<u8> {
        let (bytes, _, unmappable) = encoding_rs::GBK.encode(text);
        assert!(!unmappable, "fixture text must be GBK");
        bytes.into_owned()
    }

    /// Rewrites the committed fixtures: `cargo test --lib formats::domestic -- --ignored regenerate`.
    /// The request samples come from the writer; the result files are written here from UTF-8
    /// text, encoded to GBK with encoding_rs (refusing anything unmappable).
    #[test]
    #[ignore]
    fn regenerate_fixtures() {
        let profiles = fixture_profiles();
        let doc = sample_batch();
        let save = |name: &str, bytes: &[u8]| std::fs::write(fixture_path(name), bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        for (key, name) in [("boc", "boc-request-sample.txt"), ("icbc", "icbc-request-sample.csv")] {
            let mut out = Vec::new();
            write(&doc, &profiles[key], &mut out).unwrap_or_else(|e| panic!("{e}"));
            save(name, &out);
        }

        // (status, reason) per payment, BOC wording.
        let boc_answers = [
            ("成功", ""),
            ("失败", "户名不符"),
            ("失败", "账号不存在"),
            ("失败", "账户已销户"),
            ("失败", "账户冻结"),
            ("失败", "卡状态异常"),
            ("处理中", ""),
            ("成功", ""),
        ];
        let mut boc = format!("{}|{}|{}|\r\n序号|收款人账号|收款人姓名|金额|处理状态|失败原因|\r\n", doc.batch_id, doc.payments.len(), doc.ctrl_sum());
        let boc_line = |i: usize, p: &PaymentLine, (status, reason): (&str, &str)| {
            format!("{}|{}|{}|{}|{status}|{reason}|\r\n", i + 1, p.card_number, p.holder, p.amount)
        };
        for (i, (p, a)) in doc.payments.iter().zip(boc_answers).enumerate() {
            boc.push_str(&boc_line(i, p, a));
        }
        save("boc-result-mixed.txt", &gbk(&boc));

        // The same answer with line 5 cut after the amount and the file cut inside the last
        // line's holder name (mid-character: only the first GBK byte of 洋 is there).
        let mut cut = String::new();
        for (n, l) in boc.split_inclusive("\r\n").enumerate() {
            match n + 1 {
                5 => cut.push_str(&format!("3|{}|{}|{}\r\n", doc.payments[2].card_number, doc.payments[2].holder, doc.payments[2].amount)),
                10 => {}
                _ => cut.push_str(l),
            }
        }
        let mut cut = gbk(&cut);
        cut.extend(gbk(&format!("8|{}|刘", doc.payments[7].card_number)));
        cut.push(gbk("洋")[0]);
        save("boc-result-truncated.txt", &cut);

        // ICBC style: Result 7 处理成功 / 6 被银行拒绝 / 9 银行正在处理, iRetCode, iRetMsg.
        let icbc_answers = [
            ("7", "0000", "交易成功"),
            ("6", "3031", "账号户名不符"),
            ("6", "3009", "无此账户"),
            ("6", "3039", "账户已关户"),
            ("6", "3017", "账户已冻结(止付)"),
            ("6", "3057", "卡状态异常"),
            ("9", "", "银行正在处理"),
            ("7", "0000", "交易成功"),
        ];
        let mut icbc = format!("H,{},{},{}\n", doc.batch_id, doc.payments.len(), doc.ctrl_sum().0);
        for (p, (status, code, msg)) in doc.payments.iter().zip(icbc_answers) {
            icbc.push_str(&format!("{},{},{},{status},{code},{msg}\n", p.end_to_end_id, p.card_number, p.amount.0));
        }
        save("icbc-result-mixed.csv", &gbk(&icbc));

        let p = &doc.payments;
        let malformed = format!(
            "H,{id},5,{total}\n\
             {e0},{c0},{a0},7,0000,交易成功\n\
             {e1},{c1},1000.50,6,3031,账号户名不符\n\
             {e2},{c2},{a2},X,3009,无此账户\n\
             {e3},{c3},{a3},6,3039,账户已关户,多余\n\
             ,{c4},{a4},6,3017,账户冻结\n",
            id = doc.batch_id,
            total = p[..5].iter().map(|x| x.amount).sum::<Fen>().0,
            e0 = p[0].end_to_end_id,
            c0 = p[0].card_number,
            a0 = p[0].amount.0,
            e1 = p[1].end_to_end_id,
            c1 = p[1].card_number,
            e2 = p[2].end_to_end_id,
            c2 = p[2].card_number,
            a2 = p[2].amount.0,
            e3 = p[3].end_to_end_id,
            c3 = p[3].card_number,
            a3 = p[3].amount.0,
            c4 = p[4].card_number,
            a4 = p[4].amount.0,
        );
        save("icbc-result-malformed.csv", &gbk(&malformed));
    }
}
