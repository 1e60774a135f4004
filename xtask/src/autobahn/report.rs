//! Reading wstest's `index.json`, printing the verdict, and comparing it with the committed
//! expectations (`autobahn/expected-{server,client}.json`).
//!
//! `index.json` is `{agent: {case id: {behavior, behaviorClose, duration, remoteCloseCode,
//! reportfile}}}`. An expectation file keeps only `behavior` and `behaviorClose` per case id,
//! one case per line in case order, so a change of conformance is a one-line diff.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::cases::{self, INFORMATIONAL_BY_DESIGN};

/// The outcome of one case, as wstest judged it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Outcome {
    pub(crate) behavior: String,
    pub(crate) close: String,
}

impl Outcome {
    /// OK, or INFORMATIONAL where Autobahn itself calls the case informational.
    fn passes(&self, id: &str) -> bool {
        let ok = |value: &str| {
            value == "OK" || (value == "INFORMATIONAL" && INFORMATIONAL_BY_DESIGN.contains(&id))
        };
        ok(&self.behavior) && ok(&self.close)
    }

    fn describe(&self) -> String {
        format!("{}/{}", self.behavior, self.close)
    }
}

/// One case of a report.
#[derive(Clone, Debug)]
pub(crate) struct CaseResult {
    pub(crate) id: String,
    pub(crate) outcome: Outcome,
    pub(crate) remote_close_code: Option<i64>,
    pub(crate) duration_ms: u64,
    pub(crate) report_file: Option<PathBuf>,
}

/// All cases of one agent, in case order.
#[derive(Debug)]
pub(crate) struct Report {
    pub(crate) agent: String,
    pub(crate) cases: Vec<CaseResult>,
}

/// Reads `outdir/index.json` and picks `agent`'s results (or the only agent's, if `agent` is not
/// in it: a foreign client under test may report under its own name).
pub(crate) fn read(outdir: &Path, agent: &str) -> Result<Report, String> {
    let path = outdir.join("index.json");
    let text = fs::read_to_string(&path)
        .map_err(|err| format!("cannot read {}: {err}", path.display()))?;
    let index: Value = serde_json::from_str(&text)
        .map_err(|err| format!("{} is not JSON: {err}", path.display()))?;
    let agents = index
        .as_object()
        .ok_or_else(|| format!("{}: expected an object of agents", path.display()))?;
    let (name, cases) = match agents.get(agent) {
        Some(cases) => (agent, cases),
        None if agents.len() == 1 => {
            let (name, cases) = agents.iter().next().expect("one agent");
            eprintln!("autobahn: the report is for agent `{name}`, not `{agent}`; using it");
            (name.as_str(), cases)
        }
        None => {
            let names: Vec<&str> = agents.keys().map(String::as_str).collect();
            return Err(format!(
                "{}: no agent `{agent}` (agents: {})",
                path.display(),
                names.join(", ")
            ));
        }
    };
    let cases = cases
        .as_object()
        .ok_or_else(|| format!("{}: agent `{name}` has no cases", path.display()))?;
    let text_field = |value: &Value, key: &str| {
        value
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_owned()
    };
    let mut results: Vec<CaseResult> = cases
        .iter()
        .map(|(id, value)| CaseResult {
            id: id.clone(),
            outcome: Outcome {
                behavior: text_field(value, "behavior"),
                close: text_field(value, "behaviorClose"),
            },
            remote_close_code: value.get("remoteCloseCode").and_then(Value::as_i64),
            duration_ms: value.get("duration").and_then(Value::as_u64).unwrap_or(0),
            report_file: value
                .get("reportfile")
                .and_then(Value::as_str)
                .map(|file| outdir.join(file)),
        })
        .collect();
    results.sort_by(|a, b| cases::compare_ids(&a.id, &b.id));
    Ok(Report {
        agent: name.to_owned(),
        cases: results,
    })
}

const BEHAVIORS: &[&str] = &[
    "OK",
    "NON-STRICT",
    "INFORMATIONAL",
    "UNIMPLEMENTED",
    "FAILED",
];
const CLOSE_BEHAVIORS: &[&str] = &[
    "OK",
    "INFORMATIONAL",
    "FAILED",
    "WRONG CODE",
    "UNCLEAN",
    "FAILED BY CLIENT",
];

fn section_name(section: u32) -> &'static str {
    match section {
        1 => "framing",
        2 => "ping/pong",
        3 => "reserved bits",
        4 => "opcodes",
        5 => "fragmentation",
        6 => "UTF-8",
        7 => "close",
        9 => "limits/perf",
        10 => "misc",
        12 => "deflate",
        13 => "deflate params",
        _ => "",
    }
}

/// The per-section table of `behavior` and `behaviorClose`, and the list of non-OK cases.
pub(crate) fn render(report: &Report) -> String {
    let mut sections: BTreeMap<u32, Vec<&CaseResult>> = BTreeMap::new();
    for case in &report.cases {
        sections
            .entry(cases::section(&case.id))
            .or_default()
            .push(case);
    }
    let mut out = String::new();
    let header_b = ["OK", "NON-STRICT", "INFO", "UNIMPL", "FAILED"];
    let header_c = ["OK", "INFO", "FAILED", "WRONG-CODE", "UNCLEAN", "BY-CLIENT"];
    let _ = writeln!(
        out,
        "{:<20}{:>6} | behavior{:>52}| behaviorClose",
        "section", "cases", ""
    );
    let mut line = format!("{:<20}{:>6} |", "", "");
    for name in header_b {
        let _ = write!(line, "{name:>12}");
    }
    line.push_str(" |");
    for name in header_c {
        let _ = write!(line, "{name:>11}");
    }
    let _ = writeln!(out, "{line}");
    let row = |label: String, cases: &[&CaseResult]| {
        let mut line = format!("{label:<20}{:>6} |", cases.len());
        for behavior in BEHAVIORS {
            let count = cases
                .iter()
                .filter(|c| c.outcome.behavior == *behavior)
                .count();
            let _ = write!(
                line,
                "{:>12}",
                if count == 0 {
                    "-".to_owned()
                } else {
                    count.to_string()
                }
            );
        }
        line.push_str(" |");
        for close in CLOSE_BEHAVIORS {
            let count = cases.iter().filter(|c| c.outcome.close == *close).count();
            let _ = write!(
                line,
                "{:>11}",
                if count == 0 {
                    "-".to_owned()
                } else {
                    count.to_string()
                }
            );
        }
        let other = cases
            .iter()
            .filter(|c| {
                !BEHAVIORS.contains(&c.outcome.behavior.as_str())
                    || !CLOSE_BEHAVIORS.contains(&c.outcome.close.as_str())
            })
            .count();
        if other > 0 {
            let _ = write!(line, "  ({other} with other values)");
        }
        line
    };
    for (section, cases) in &sections {
        let _ = writeln!(
            out,
            "{}",
            row(format!("{section:>2} {}", section_name(*section)), cases)
        );
    }
    let all: Vec<&CaseResult> = report.cases.iter().collect();
    let _ = writeln!(out, "{}", row("all".into(), &all));
    let seconds = report.cases.iter().map(|c| c.duration_ms).sum::<u64>() as f64 / 1000.0;
    let _ = writeln!(out, "(sum of wstest's per-case durations: {seconds:.1} s)");

    let non_ok: Vec<&CaseResult> = report
        .cases
        .iter()
        .filter(|c| c.outcome.behavior != "OK" || c.outcome.close != "OK")
        .collect();
    if !non_ok.is_empty() {
        let _ = writeln!(out, "non-OK cases ({}):", non_ok.len());
        for case in non_ok {
            let verdict = if case.outcome.passes(&case.id) {
                "informational by design"
            } else {
                "FAIL"
            };
            let code = case
                .remote_close_code
                .map_or_else(|| "-".to_owned(), |code| code.to_string());
            let file = case.report_file.as_ref().map_or_else(String::new, |f| {
                f.with_extension("html").display().to_string()
            });
            let _ = writeln!(
                out,
                "  {:<9} {:<30} close code {code:<5} {verdict:<24} {file}",
                case.id,
                case.outcome.describe()
            );
        }
    }
    out
}

/// Cases whose outcome is not a pass.
pub(crate) fn failures(report: &Report) -> Vec<&CaseResult> {
    report
        .cases
        .iter()
        .filter(|c| !c.outcome.passes(&c.id))
        .collect()
}

/// Expected outcomes by case id.
pub(crate) type Expectations = BTreeMap<String, Outcome>;

/// Reads an expectation file; a missing file is an empty set of expectations.
pub(crate) fn read_expectations(path: &Path) -> Result<Expectations, String> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Expectations::new()),
        Err(err) => return Err(format!("cannot read {}: {err}", path.display())),
    };
    let value: Value = serde_json::from_str(&text)
        .map_err(|err| format!("{} is not JSON: {err}", path.display()))?;
    let object = value
        .as_object()
        .ok_or_else(|| format!("{}: expected an object of case ids", path.display()))?;
    object
        .iter()
        .map(|(id, entry)| {
            let field = |key: &str| {
                entry
                    .get(key)
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .ok_or_else(|| format!("{}: case {id} has no `{key}`", path.display()))
            };
            Ok((
                id.clone(),
                Outcome {
                    behavior: field("behavior")?,
                    close: field("behaviorClose")?,
                },
            ))
        })
        .collect()
}

/// Differences between the cases that ran and their expectations (cases that did not run are
/// not compared).
pub(crate) fn differences(report: &Report, expected: &Expectations) -> Vec<String> {
    report
        .cases
        .iter()
        .filter_map(|case| match expected.get(&case.id) {
            None => Some(format!(
                "  {:<9} got {}, no expectation recorded",
                case.id,
                case.outcome.describe()
            )),
            Some(want) if *want != case.outcome => Some(format!(
                "  {:<9} got {}, expected {}",
                case.id,
                case.outcome.describe(),
                want.describe()
            )),
            Some(_) => None,
        })
        .collect()
}

/// The expectations after `--bless`: the old ones, overwritten by every case that ran.
pub(crate) fn blessed(report: &Report, old: &Expectations) -> Expectations {
    let mut merged = old.clone();
    for case in &report.cases {
        merged.insert(case.id.clone(), case.outcome.clone());
    }
    merged
}

/// Writes expectations one case per line, in case order.
pub(crate) fn write_expectations(path: &Path, expectations: &Expectations) -> Result<(), String> {
    let mut ids: Vec<&String> = expectations.keys().collect();
    ids.sort_by(|a, b| cases::compare_ids(a, b));
    let mut text = String::from("{\n");
    for (n, id) in ids.iter().enumerate() {
        let outcome = &expectations[*id];
        let _ = writeln!(
            text,
            "  {}: {{\"behavior\": {}, \"behaviorClose\": {}}}{}",
            Value::from(id.as_str()),
            Value::from(outcome.behavior.as_str()),
            Value::from(outcome.close.as_str()),
            if n + 1 == ids.len() { "" } else { "," }
        );
    }
    text.push_str("}\n");
    fs::write(path, text).map_err(|err| format!("cannot write {}: {err}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(behavior: &str, close: &str) -> Outcome {
        Outcome {
            behavior: behavior.into(),
            close: close.into(),
        }
    }

    /// Writes a small index.json into a folder of its own (`test` keeps parallel tests apart).
    fn sample_report(test: &str) -> (PathBuf, Report) {
        let dir = std::env::temp_dir().join(format!("xtask-{test}-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let index = r#"{"weft": {
            "1.1.2": {"behavior": "OK", "behaviorClose": "OK", "duration": 2, "remoteCloseCode": 1000, "reportfile": "weft_case_1_1_2.json"},
            "1.1.10": {"behavior": "OK", "behaviorClose": "OK", "duration": 3, "remoteCloseCode": 1000, "reportfile": "weft_case_1_1_10.json"},
            "7.1.6": {"behavior": "INFORMATIONAL", "behaviorClose": "INFORMATIONAL", "duration": 5, "remoteCloseCode": 1000, "reportfile": "weft_case_7_1_6.json"},
            "7.1.5": {"behavior": "FAILED", "behaviorClose": "OK", "duration": 1, "remoteCloseCode": 1002, "reportfile": "weft_case_7_1_5.json"},
            "6.4.1": {"behavior": "INFORMATIONAL", "behaviorClose": "OK", "duration": 1, "remoteCloseCode": null, "reportfile": "weft_case_6_4_1.json"}
        }}"#;
        fs::write(dir.join("index.json"), index).unwrap();
        let report = read(&dir, "weft").unwrap();
        (dir, report)
    }

    #[test]
    fn reads_sorts_and_judges_a_report() {
        let (dir, report) = sample_report("judge");
        let ids: Vec<&str> = report.cases.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["1.1.2", "1.1.10", "6.4.1", "7.1.5", "7.1.6"]);
        // INFORMATIONAL passes only for the cases Autobahn calls informational.
        let failing: Vec<&str> = failures(&report).iter().map(|c| c.id.as_str()).collect();
        assert_eq!(failing, ["6.4.1", "7.1.5"]);
        let table = render(&report);
        assert!(table.contains("weft_case_7_1_5.html"), "{table}");
        assert!(table.contains(" 7 close"), "{table}");
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn compares_and_blesses_only_what_ran() {
        let (dir, report) = sample_report("bless");
        let mut expected = Expectations::new();
        expected.insert("1.1.2".into(), outcome("OK", "OK"));
        expected.insert("7.1.5".into(), outcome("OK", "OK"));
        expected.insert("9.1.1".into(), outcome("OK", "OK"));
        let diffs = differences(&report, &expected);
        assert_eq!(diffs.len(), 4, "{diffs:?}"); // 7.1.5 differs; 1.1.10, 6.4.1, 7.1.6 are new
        assert!(
            diffs
                .iter()
                .any(|d| d.contains("7.1.5") && d.contains("expected OK/OK"))
        );

        let merged = blessed(&report, &expected);
        assert_eq!(merged["7.1.5"], outcome("FAILED", "OK"));
        assert_eq!(
            merged["9.1.1"],
            outcome("OK", "OK"),
            "cases that did not run keep their entry"
        );
        let path = dir.join("expected.json");
        write_expectations(&path, &merged).unwrap();
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.starts_with(
            "{\n  \"1.1.2\": {\"behavior\": \"OK\", \"behaviorClose\": \"OK\"},\n  \"1.1.10\""
        ));
        assert_eq!(read_expectations(&path).unwrap(), merged);
        assert!(differences(&report, &merged).is_empty());
        fs::remove_dir_all(dir).unwrap();
    }
}
