//! The code's shape, as the README and issue 14 describe it: the Layout names what is in `src/`,
//! and states are compared as enums, never as text, outside the store's edge and the domain.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The `src/…` paths the README's Layout block names at the start of a line.
fn layout_paths() -> Vec<String> {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let layout = readme.split("## Layout").nth(1).expect("a Layout section");
    let block = layout.split("```").nth(1).expect("a code block in Layout");
    let mut paths = Vec::new();
    for line in block.lines() {
        for word in line.split_whitespace() {
            if word.starts_with("src/") {
                paths.push(word.trim_end_matches([',', ';', ')']).to_string());
            }
        }
    }
    paths
}

#[test]
fn the_readme_layout_is_true_to_the_tree() {
    let named = layout_paths();
    for p in &named {
        assert!(root().join(p).exists(), "the README's Layout names {p}, which does not exist");
    }
    for entry in std::fs::read_dir(root().join("src")).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == "lib.rs" {
            continue;
        }
        let path = if entry.path().is_dir() { format!("src/{name}/") } else { format!("src/{name}") };
        assert!(named.iter().any(|n| n == &path || n.trim_end_matches('/') == path.trim_end_matches('/')), "the README's Layout does not name {path}");
    }
}

/// The texts of the stored states (src/domain/state.rs); a filter word such as `all` is not one.
const STATE_WORDS: &[&str] = &[
    "valid", "held", "paid", "cancelled", "created", "sent", "accepted", "settled", "rejected", "returned", "awaiting_approval", "written",
    "delivering", "in_doubt", "delivered", "debited", "closed", "pending", "approved", "withdrawn", "open", "resolved", "applied",
    "quarantined", "duplicate", "skipped", "error", "ok", "running", "interrupted", "active", "frozen",
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn states_are_compared_as_enums_outside_the_store_and_the_domain() {
    let src = root().join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut found = Vec::new();
    for f in files {
        let rel = f.strip_prefix(&src).unwrap().to_string_lossy().replace('\\', "/");
        if rel.starts_with("store/") || rel.starts_with("domain/") {
            continue;
        }
        let text = std::fs::read_to_string(&f).unwrap();
        // Unit tests at the end of a file may build states from text.
        let code = text.split("#[cfg(test)]").next().unwrap_or("");
        for (n, line) in code.lines().enumerate() {
            let l = line.replace(' ', "");
            let compared = ["status==\"", "status!=\"", "outcome==\"", "outcome!=\""]
                .iter()
                .filter_map(|op| l.split_once(op).map(|(_, rest)| rest.split('"').next().unwrap_or("")))
                .any(|word| STATE_WORDS.contains(&word));
            if compared || l.contains("status.as_str(){") && !l.contains("matchstatus.as_str(){") {
                found.push(format!("src/{rel}:{}: {}", n + 1, line.trim()));
            }
        }
    }
    assert!(found.is_empty(), "states compared as text (use the enums of src/domain/state.rs):\n{}", found.join("\n"));
}
