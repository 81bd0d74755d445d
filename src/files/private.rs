//! Files with personal data: created 0600 (or 0640 for a report group) whatever the umask.

use std::fs::File;
use std::path::Path;

/// Creates (or truncates) `path` readable by its owner only (0600), whatever the umask.
pub fn private_file(path: &Path) -> std::io::Result<File> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    let f = o.open(path)?;
    make_private(path)?;
    Ok(f)
}

/// Sets an existing file to 0600 (a file moved in keeps the mode it came with).
pub fn make_private(path: &Path) -> std::io::Result<()> {
    set_mode(path, 0o600)
}

/// Sets a file's permission bits (no-op off unix).
pub fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
    Ok(())
}

/// The id of a group named in /etc/group (or given as a number).
pub fn group_id(name: &str) -> Option<u32> {
    if let Ok(n) = name.parse() {
        return Some(n);
    }
    let groups = std::fs::read_to_string("/etc/group").ok()?;
    groups.lines().find_map(|l| {
        let mut f = l.split(':');
        (f.next()? == name).then_some(())?;
        f.nth(1)?.parse().ok()
    })
}

/// Makes a report file private: 0600, or 0640 and owned by `group` when one is configured.
pub fn make_report_private(path: &Path, group: Option<&str>) -> std::io::Result<()> {
    let Some(g) = group else { return make_private(path) };
    let gid = group_id(g).ok_or_else(|| std::io::Error::other(format!("paths.reports_group: no such group '{g}'")))?;
    #[cfg(unix)]
    std::os::unix::fs::chown(path, None, Some(gid))?;
    set_mode(path, 0o640)
}

/// Whether others than the owner and group may read the file (mode `o+r`).
pub fn readable_by_others(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o004 != 0)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        false
    }
}
