//! Issue 19: the Debian package. `cargo deb` builds it (the release binary too, once per test
//! process); one test reads it as `dpkg-deb -c` / `-I` show it, one installs it with
//! `dpkg --root` into a throw-away root — maintainer scripts included (`--force-script-chrootless`:
//! they honour DPKG_ROOT) — and checks that the packaged configuration's folders are the ones
//! tmpfiles makes, that the unit's ExecStart, ConfigurationDirectory, StateDirectory, User and
//! Documentation= point at what the package installed, that `systemd-analyze verify` accepts the
//! unit there, that the installed binary starts as the `aidpay` user on that layout with that
//! configuration, and that a purge keeps the data. Needs cargo-deb, dpkg, systemd (for
//! systemd-sysusers, -tmpfiles, -analyze) and util-linux's setpriv; `.ci/run` installs them.
//!
//! Also: config/aidpay.deb.toml (the package's /etc/aidpay/aidpay.toml) is config/aidpay.toml with
//! absolute paths, and nothing else differs.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Where the package puts aidpay's state, the unit's StateDirectory.
const STATE: &str = "/var/lib/aidpay";
/// The files the package holds, with their modes; anything else in it is a mistake.
const FILES: [(&str, &str); 7] = [
    ("./usr/bin/aidpay", "-rwxr-xr-x"),
    ("./etc/aidpay/aidpay.toml", "-rw-r--r--"),
    ("./usr/lib/systemd/system/aidpay.service", "-rw-r--r--"),
    ("./usr/lib/sysusers.d/aidpay.conf", "-rw-r--r--"),
    ("./usr/lib/tmpfiles.d/aidpay.conf", "-rw-r--r--"),
    ("./usr/share/doc/aidpay/README.md", "-rw-r--r--"),
    ("./usr/share/doc/aidpay/copyright", "-rw-r--r--"),
];

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn text(out: &[u8]) -> String {
    String::from_utf8_lossy(out).into_owned()
}

/// Runs a command, which must succeed.
fn run(cmd: &mut Command) -> Output {
    let shown = format!("{cmd:?}");
    let out = cmd.stdin(Stdio::null()).output().unwrap_or_else(|e| panic!("{shown}: cannot run it ({e}); `bash .ci/run` installs the tools"));
    assert!(out.status.success(), "{shown}: {}\nstdout: {}\nstderr: {}", out.status, text(&out.stdout), text(&out.stderr));
    out
}

/// The .deb, built once per test process by `cargo deb` (and the -dbgsym .ddeb beside it).
fn package() -> &'static Path {
    static DEB: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let built = DEB.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let t = Instant::now();
        let mut c = Command::new(&cargo);
        // Without what `cargo test` sets for the test binary: cargo fingerprints some build
        // scripts' environment (ring's CARGO_MANIFEST_DIR), so they would be rebuilt here and
        // again by the next plain `cargo deb`.
        for (k, _) in std::env::vars_os() {
            let k = k.to_string_lossy();
            if k.starts_with("CARGO_PKG_")
                || k.starts_with("CARGO_BIN_")
                || k.starts_with("CARGO_MANIFEST_")
                || ["CARGO_CRATE_NAME", "CARGO_PRIMARY_PACKAGE", "CARGO_TARGET_TMPDIR", "CARGO_RUSTC_CURRENT_DIR", "LD_LIBRARY_PATH"].contains(&k.as_ref())
            {
                c.env_remove(k.as_ref());
            }
        }
        let out = c
            .args(["deb", "--locked", "--manifest-path"])
            .arg(repo("Cargo.toml"))
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("{cargo} deb: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "`cargo deb --locked` failed ({}); cargo-deb missing? `cargo install cargo-deb --locked` (bash .ci/run does)\n{}\n{}",
                out.status,
                text(&out.stdout),
                text(&out.stderr)
            ));
        }
        eprintln!("cargo deb took {:.1} s", t.elapsed().as_secs_f64());
        // cargo-deb prints the path of each file it wrote.
        let stdout = text(&out.stdout);
        stdout.lines().map(str::trim).find(|l| l.ends_with(".deb")).map(PathBuf::from).ok_or_else(|| format!("no .deb named in:\n{stdout}"))
    });
    match built {
        Ok(p) => p,
        Err(e) => panic!("{e}"),
    }
}

/// `dpkg-deb -c`: path → (mode string, owner), for every entry (folders end in `/`).
fn contents(deb: &Path) -> BTreeMap<String, (String, String)> {
    let out = run(Command::new("dpkg-deb").arg("-c").arg(deb));
    text(&out.stdout)
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            assert!(f.len() >= 6, "dpkg-deb -c line: {l}");
            (f[5..].join(" "), (f[0].to_string(), f[1].to_string()))
        })
        .collect()
}

/// `key=value` lines of a unit file (comments and sections dropped; repeated keys kept in order).
fn unit_entries(unit: &str) -> Vec<(String, String)> {
    unit.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with(';') && !l.starts_with('['))
        .filter_map(|l| l.split_once('=').map(|(k, v)| (k.trim().to_string(), v.trim().to_string())))
        .collect()
}

fn unit_value(entries: &[(String, String)], key: &str) -> String {
    let mut v: Vec<&String> = entries.iter().filter(|(k, _)| k == key).map(|(_, v)| v).collect();
    assert_eq!(v.len(), 1, "the unit sets {key}= once: {v:?}");
    v.remove(0).clone()
}

/// The `d` lines of a tmpfiles.d file: path → (mode, user, group).
fn tmpfiles_dirs(conf: &str) -> BTreeMap<String, (u32, String, String)> {
    conf.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            assert!(f.len() >= 5 && f[0] == "d", "only `d` lines expected in aidpay.tmpfiles: {l}");
            (f[1].to_string(), (u32::from_str_radix(f[2], 8).unwrap(), f[3].to_string(), f[4].to_string()))
        })
        .collect()
}

/// The folders a configuration reads and writes: the store's, [paths], inbox/grants, the
/// banks' drop folders and the lock file's.
fn config_folders(cfg: &aidpay::config::Config) -> Vec<(String, PathBuf)> {
    let url = cfg.database.url.as_str();
    let db = url.strip_prefix("sqlite://").unwrap_or_else(|| panic!("the packaged store is SQLite: {url}"));
    let db = Path::new(db.split('?').next().unwrap());
    let mut v = vec![
        ("database.url".to_string(), db.parent().unwrap().to_path_buf()),
        ("paths.inbox".into(), cfg.paths.inbox.clone()),
        ("paths.inbox/grants".into(), cfg.paths.inbox.join("grants")),
        ("paths.outbox".into(), cfg.paths.outbox.clone()),
        ("paths.quarantine".into(), cfg.paths.quarantine.clone()),
        ("paths.reports".into(), cfg.paths.reports.clone()),
        ("the lock file".into(), aidpay::lock::lock_file_path(cfg).parent().unwrap().to_path_buf()),
    ];
    for b in &cfg.banks {
        if let aidpay::config::Transport::DropFolder(d) = &b.transport {
            v.push((format!("banks.{}.drop_dir", b.name), d.clone()));
        }
    }
    v
}

fn no_env() -> Option<std::collections::HashMap<String, String>> {
    Some(std::collections::HashMap::new())
}

#[test]
fn the_packaged_config_is_the_reference_config_with_absolute_paths() {
    let reference = std::fs::read_to_string(repo("config/aidpay.toml")).unwrap();
    let packaged = std::fs::read_to_string(repo("config/aidpay.deb.toml")).unwrap();
    let expected = reference.replace("sqlite://var/", "sqlite:///var/lib/aidpay/").replace("\"var/", "\"/var/lib/aidpay/");
    assert!(
        packaged == expected,
        "config/aidpay.deb.toml must be config/aidpay.toml with its var/ paths under /var/lib/aidpay, nothing else changed. \
         Regenerate it:\n  sed -e 's#sqlite://var/#sqlite:///var/lib/aidpay/#' -e 's#\"var/#\"/var/lib/aidpay/#g' config/aidpay.toml > config/aidpay.deb.toml"
    );
    // Both load, and every folder of the packaged one is absolute and under the state directory.
    aidpay::config::Config::load_with_env(Some(&repo("config/aidpay.toml")), no_env()).unwrap();
    let cfg = aidpay::config::Config::load_with_env(Some(&repo("config/aidpay.deb.toml")), no_env()).unwrap();
    for (key, dir) in config_folders(&cfg) {
        assert!(dir.is_absolute() && dir.starts_with(STATE), "{key}: {} is not under {STATE}", dir.display());
    }
}

#[test]
fn the_package_holds_the_daemon_its_unit_config_and_docs() {
    let deb = package();
    let name = deb.file_name().unwrap().to_str().unwrap();
    let arch = text(&run(Command::new("dpkg").arg("--print-architecture")).stdout).trim().to_string();
    assert_eq!(name, format!("aidpay_{}-1_{arch}.deb", env!("CARGO_PKG_VERSION")));

    // dpkg-deb -c: exactly these files, root's, with these modes; folders 0755.
    let listing = contents(deb);
    let files: BTreeMap<&str, &str> = FILES.into_iter().collect();
    let found: BTreeSet<&str> = listing.keys().filter(|p| !p.ends_with('/')).map(String::as_str).collect();
    assert_eq!(found, files.keys().copied().collect::<BTreeSet<_>>(), "dpkg-deb -c: {listing:#?}");
    for (path, (mode, owner)) in &listing {
        assert!(owner == "root/root" || owner == "0/0", "{path} belongs to {owner}");
        match files.get(path.as_str()) {
            Some(want) => assert_eq!(mode, want, "{path}"),
            None => assert_eq!(mode, "drwxr-xr-x", "{path}"),
        }
    }

    // dpkg-deb -I: the control fields, the conffile, the maintainer scripts.
    let field = |f: &str| text(&run(Command::new("dpkg-deb").arg("-f").arg(deb).arg(f)).stdout).trim().to_string();
    assert_eq!(field("Package"), "aidpay");
    assert_eq!(field("Version"), format!("{}-1", env!("CARGO_PKG_VERSION")));
    assert_eq!(field("Architecture"), arch);
    assert_eq!(field("Section"), "admin");
    // Only the C library, systemd and the CA store: no OpenSSL (rustls), no libsqlite3 (bundled).
    let depends = field("Depends");
    let names: BTreeSet<&str> = depends.split(',').map(|d| d.split_whitespace().next().unwrap()).collect();
    assert_eq!(names, BTreeSet::from(["libc6", "systemd", "ca-certificates"]), "Depends: {depends}");
    // (`dpkg-deb -I DEB MEMBER` fails for a member that is not there.)
    let member = |m: &str| text(&run(Command::new("dpkg-deb").arg("-I").arg(deb).arg(m)).stdout);
    assert!(member("control").contains("Package: aidpay"));
    assert_eq!(member("conffiles").trim(), "/etc/aidpay/aidpay.toml");
    let postinst = member("postinst");
    let sysusers = postinst.find(r#"systemd-sysusers ${DPKG_ROOT:+--root="$DPKG_ROOT"} aidpay.conf"#).expect(&postinst);
    let tmpfiles = postinst.find(r#"systemd-tmpfiles ${DPKG_ROOT:+--root="$DPKG_ROOT"} --create aidpay.conf"#).expect(&postinst);
    assert!(sysusers < tmpfiles, "the user exists before tmpfiles gives it folders:\n{postinst}");
    assert!(!postinst.contains("deb-systemd-invoke start"), "not started on install (the shipped account is an example):\n{postinst}");
    assert!(postinst.contains("deb-systemd-invoke try-restart aidpay.service"), "restarted after an upgrade:\n{postinst}");
    assert!(member("prerm").contains("deb-systemd-invoke stop aidpay.service"), "stopped on removal");
    assert!(!member("postrm").contains("rm -"), "a purge deletes no data");

    // The packaged files are the repository's; the unit's Documentation= is in the package.
    let root = tempfile::tempdir().unwrap();
    run(Command::new("dpkg-deb").arg("-x").arg(deb).arg(root.path()));
    for (packaged, source) in [
        ("etc/aidpay/aidpay.toml", "config/aidpay.deb.toml"),
        ("usr/lib/systemd/system/aidpay.service", "systemd/aidpay.service"),
        ("usr/lib/sysusers.d/aidpay.conf", "systemd/aidpay.sysusers"),
        ("usr/lib/tmpfiles.d/aidpay.conf", "systemd/aidpay.tmpfiles"),
        ("usr/share/doc/aidpay/README.md", "README.md"),
    ] {
        assert!(std::fs::read(root.path().join(packaged)).unwrap() == std::fs::read(repo(source)).unwrap(), "{packaged} is not {source}");
    }
    let unit = std::fs::read_to_string(root.path().join("usr/lib/systemd/system/aidpay.service")).unwrap();
    let doc = unit_value(&unit_entries(&unit), "Documentation");
    let doc = doc.strip_prefix("file://").unwrap_or_else(|| panic!("Documentation={doc} is a file:// URL"));
    assert!(listing.contains_key(&format!(".{doc}")), "Documentation={doc} is not in the package");

    // The binary runs, stripped (its line tables are in the dbgsym package beside it).
    let bin = root.path().join("usr/bin/aidpay");
    assert!(text(&run(Command::new(&bin).arg("--help")).stdout).contains("run"));
    let sections = text(&run(Command::new("objdump").arg("-h").arg(&bin)).stdout);
    assert!(!sections.contains(".debug_info"), "/usr/bin/aidpay is not stripped");
    let ddeb = deb.with_file_name(format!("aidpay-dbgsym_{}-1_{arch}.ddeb", env!("CARGO_PKG_VERSION")));
    assert!(contents(&ddeb).keys().any(|p| p.starts_with("./usr/lib/debug/.build-id/") && p.ends_with(".debug")), "{}", ddeb.display());
}

#[test]
fn installed_in_a_throwaway_root_its_paths_line_up_and_it_starts() {
    let deb = package();
    let tmp = tempfile::tempdir().unwrap();
    // The aidpay user (not root) must reach its folders in there.
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let root = tmp.path().join("root");
    let admin = root.join("var/lib/dpkg");
    for d in ["info", "updates", "triggers"] {
        std::fs::create_dir_all(admin.join(d)).unwrap();
    }
    std::fs::create_dir_all(root.join("var/log")).unwrap();
    for f in ["status", "available"] {
        std::fs::write(admin.join(f), "").unwrap();
    }
    let dpkg = |args: &[&str]| {
        let mut c = Command::new("dpkg");
        // Maintainer scripts run outside a chroot (the root has no shell) with DPKG_ROOT set;
        // the root has no libc6 or systemd package: what the package depends on is the host's.
        c.arg(format!("--root={}", root.display()))
            .arg(format!("--log={}", root.join("var/log/dpkg.log").display()))
            .args(["--force-script-chrootless", "--force-depends", "--force-unsafe-io"])
            .args(args)
            .env_remove("DPKG_ROOT");
        run(&mut c)
    };
    dpkg(&["-i", deb.to_str().unwrap()]);
    let status = run(Command::new("dpkg-query").arg(format!("--admindir={}", admin.display())).args(["-W", "-f=${Status}", "aidpay"]));
    assert_eq!(text(&status.stdout), "install ok installed");
    let file = |p: &str| root.join(p.trim_start_matches('/'));

    // The user systemd-sysusers made in the root.
    let passwd = std::fs::read_to_string(file("/etc/passwd")).unwrap();
    let user: Vec<&str> = passwd.lines().find(|l| l.starts_with("aidpay:")).unwrap_or_else(|| panic!("no aidpay in /etc/passwd:\n{passwd}")).split(':').collect();
    let (uid, gid): (u32, u32) = (user[2].parse().unwrap(), user[3].parse().unwrap());
    assert!(uid > 0 && uid < 1000, "a system user: {user:?}");
    assert_eq!((user[5], user[6]), (STATE, "/usr/sbin/nologin"));
    let group = std::fs::read_to_string(file("/etc/group")).unwrap();
    assert!(group.lines().any(|l| l.starts_with(&format!("aidpay:x:{gid}:"))), "{group}");
    let id_of = |name: &str| if name == "root" { 0 } else { assert_eq!(name, "aidpay"); uid };

    // Every tmpfiles folder is there, with its mode and owner.
    let dirs = tmpfiles_dirs(&std::fs::read_to_string(file("/usr/lib/tmpfiles.d/aidpay.conf")).unwrap());
    for (path, (mode, u, g)) in &dirs {
        let m = std::fs::metadata(file(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert!(m.is_dir(), "{path}");
        assert_eq!(m.mode() & 0o7777, *mode, "{path}: mode {:o}", m.mode() & 0o7777);
        assert_eq!((m.uid(), m.gid()), (id_of(u), id_of(g)), "{path}");
    }

    // The installed configuration: every folder it uses is a tmpfiles folder, under the state directory.
    let conf = file("/etc/aidpay/aidpay.toml");
    let cfg = aidpay::config::Config::load_with_env(Some(&conf), no_env()).unwrap();
    for (key, dir) in config_folders(&cfg) {
        let shown = dir.to_str().unwrap();
        assert!(dirs.contains_key(shown), "{key} = {shown} is not made by aidpay.tmpfiles: {:?}", dirs.keys());
        assert!(dir.starts_with(STATE), "{key} = {shown}");
    }

    // The unit: what it runs, where, as whom, and with what, is what the package installed.
    let unit = std::fs::read_to_string(file("/usr/lib/systemd/system/aidpay.service")).unwrap();
    let e = unit_entries(&unit);
    let exec = unit_value(&e, "ExecStart");
    let argv: Vec<&str> = exec.split_whitespace().collect();
    assert_eq!(argv[0], "/usr/bin/aidpay");
    assert!(std::fs::metadata(file(argv[0])).unwrap().mode() & 0o111 != 0, "{} is executable", argv[0]);
    let config_arg = argv.iter().position(|a| *a == "--config").map(|i| argv[i + 1]).expect("ExecStart names --config");
    assert_eq!(config_arg, "/etc/aidpay/aidpay.toml", "the conffile");
    assert!(conf.is_file());
    assert_eq!(argv.last(), Some(&"run"));
    let config_dir = format!("/etc/{}", unit_value(&e, "ConfigurationDirectory"));
    assert!(Path::new(config_arg).starts_with(&config_dir), "--config {config_arg} is under ConfigurationDirectory {config_dir}");
    let state_dir = format!("/var/lib/{}", unit_value(&e, "StateDirectory"));
    assert_eq!(state_dir, STATE);
    assert_eq!(unit_value(&e, "WorkingDirectory"), STATE);
    let state_mode = u32::from_str_radix(&unit_value(&e, "StateDirectoryMode"), 8).unwrap();
    assert_eq!(dirs.get(STATE).map(|d| d.0), Some(state_mode), "StateDirectoryMode and tmpfiles agree");
    assert_eq!((unit_value(&e, "User"), unit_value(&e, "Group")), ("aidpay".into(), "aidpay".into()));
    let cred = unit_value(&e, "LoadCredential");
    let cred_dir = cred.split_once(':').map(|(_, p)| p).unwrap();
    assert_eq!(dirs.get(cred_dir).map(|d| (d.0, d.1.as_str())), Some((0o700, "root")), "LoadCredential={cred}: a root-only folder tmpfiles makes");
    let doc = unit_value(&e, "Documentation");
    assert!(file(doc.strip_prefix("file://").unwrap()).is_file(), "Documentation={doc} is installed");
    assert_eq!(unit_value(&e, "SyslogLevelPrefix"), "true");
    assert_eq!(unit_value(&e, "Type"), "notify");

    // systemd-analyze checks the unit in that root (with the host's systemd units beside it,
    // as a real root has them), and its hardening stays where it is (1.4 today).
    let units = file("/usr/lib/systemd/system");
    for entry in std::fs::read_dir("/lib/systemd/system").expect("systemd's units (apt-get install systemd)") {
        let entry = entry.unwrap();
        if !entry.file_name().to_string_lossy().starts_with("aidpay") {
            run(Command::new("cp").arg("-a").arg(entry.path()).arg(&units));
        }
    }
    let r = format!("--root={}", root.display());
    run(Command::new("systemd-analyze").args(["verify", &r, "--man=no", "--generators=no", "aidpay.service"]));
    run(Command::new("systemd-analyze").args(["security", "--offline=true", &r, "--threshold=20", "--no-pager", "aidpay.service"]));

    // The installed binary starts as the aidpay user with the installed configuration on the
    // layout tmpfiles made (moved into the root: the configuration's /var/lib/aidpay → root/var/lib/aidpay),
    // without any secret, and says that alerts are off.
    let moved = tmp.path().join("aidpay.toml");
    std::fs::write(&moved, std::fs::read_to_string(&conf).unwrap().replace(STATE, file(STATE).to_str().unwrap())).unwrap();
    let log = tmp.path().join("daemon.log");
    let mut daemon = Command::new("setpriv")
        .args(["--reuid", &uid.to_string(), "--regid", &gid.to_string(), "--clear-groups", "--"])
        .arg(file("/usr/bin/aidpay"))
        .arg("--config")
        .arg(&moved)
        .arg("run")
        .current_dir(file(STATE))
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("USER", "aidpay")
        .env("AIDPAY_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("setpriv (util-linux)");
    let deadline = Instant::now() + Duration::from_secs(30);
    let said = loop {
        let said = std::fs::read_to_string(&log).unwrap_or_default();
        if said.contains("daemon ready") {
            break said;
        }
        if let Some(s) = daemon.try_wait().unwrap() {
            panic!("the installed aidpay exited ({s}) before it was ready:\n{said}");
        }
        if Instant::now() > deadline {
            let _ = daemon.kill();
            panic!("the installed aidpay never got ready:\n{said}");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    run(Command::new("kill").args(["-TERM", &daemon.id().to_string()]));
    let deadline = Instant::now() + Duration::from_secs(30);
    let exit = loop {
        if let Some(s) = daemon.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = daemon.kill();
            panic!("the installed aidpay did not stop on SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(exit.success(), "{exit}\n{said}");
    assert!(said.contains("alerts are off"), "{said}");
    let db = file(&format!("{STATE}/aidpay.db"));
    let m = std::fs::metadata(&db).unwrap_or_else(|e| panic!("{}: {e}\n{said}", db.display()));
    assert_eq!((m.uid(), m.gid()), (uid, gid), "the store belongs to aidpay");

    // Purged: the package's files and conffile go, the store (the payments' audit trail) stays.
    dpkg(&["--purge", "aidpay"]);
    assert!(!file("/usr/bin/aidpay").exists() && !conf.exists());
    assert!(db.is_file(), "a purge keeps {STATE}");
}

