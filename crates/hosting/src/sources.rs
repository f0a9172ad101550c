//! An agent's source files: name and size rules, the entry point, and writing them to disk.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

/// At most this many source files per agent.
pub const MAX_FILES: usize = 256;
/// At most this many bytes per source file.
pub const MAX_FILE_BYTES: usize = 1024 * 1024;

/// Checks every file name and size; the error is one line naming the first offending file.
pub(crate) fn validate(files: &BTreeMap<String, String>) -> Result<(), String> {
    if files.len() > MAX_FILES {
        return Err(format!(
            "too many source files: {} (at most {MAX_FILES})",
            files.len()
        ));
    }
    for (name, content) in files {
        validate_name(name)?;
        if content.len() > MAX_FILE_BYTES {
            return Err(format!(
                "source file {name:?} is {} bytes (at most {MAX_FILE_BYTES})",
                content.len()
            ));
        }
        // "a" and "a/b" cannot both be files.
        let as_dir = format!("{name}/");
        if let Some((other, _)) = files.range(as_dir.clone()..).next()
            && other.starts_with(&as_dir)
        {
            return Err(format!(
                "source file {name:?} is also the directory of {other:?}"
            ));
        }
    }
    Ok(())
}

fn validate_name(name: &str) -> Result<(), String> {
    let refuse = |why: &str| Err(format!("invalid source file name {name:?}: {why}"));
    if name.is_empty() {
        return refuse("empty");
    }
    if name.contains('\0') {
        return refuse("contains NUL");
    }
    if name.starts_with('/') {
        return refuse("must be relative");
    }
    if name.len() > 1024 {
        return refuse("longer than 1024 bytes");
    }
    for part in name.split('/') {
        match part {
            "" => return refuse("empty path component"),
            "." | ".." => return refuse("must not contain '.' or '..' components"),
            _ if part.len() > 255 => return refuse("path component longer than 255 bytes"),
            _ => {}
        }
    }
    // The code directory is the runtime's working directory and first on its `sys.path`: a
    // top-level `runagents` would shadow the runtime itself.
    let first = name.split('/').next().unwrap_or(name);
    if first == "runagents" || first == "runagents.py" {
        return refuse("would shadow the runagents runtime package");
    }
    Ok(())
}

/// The entry point to run: the one named (which must be a `.py` file among `files`), or when
/// none is named `agent.py`, else `main.py`, else the only `.py` file.
pub(crate) fn entry_point(files: &BTreeMap<String, String>, named: &str) -> Result<String, String> {
    let named = named.trim();
    if !named.is_empty() {
        if !named.ends_with(".py") {
            return Err(format!("entry point {named:?} is not a .py file"));
        }
        if !files.contains_key(named) {
            return Err(format!(
                "entry point {named:?} is not among the source files"
            ));
        }
        return Ok(named.to_owned());
    }
    for default in ["agent.py", "main.py"] {
        if files.contains_key(default) {
            return Ok(default.to_owned());
        }
    }
    let mut python = files.keys().filter(|name| name.ends_with(".py"));
    match (python.next(), python.next()) {
        (Some(only), None) => Ok(only.clone()),
        (None, _) => Err("no entry point: the sources have no .py file".to_owned()),
        (Some(_), Some(_)) => Err(
            "no entry point: name one, or call it agent.py or main.py (there are several .py files)"
                .to_owned(),
        ),
    }
}

/// Writes `files` to a new directory beside `dir` and swaps it into place. With renameat2's
/// exchange (Linux) the swap is atomic: `dir` always holds a complete tree, old or new.
pub(crate) fn write_tree(dir: &Path, files: &BTreeMap<String, String>) -> io::Result<()> {
    validate(files).map_err(|message| io::Error::new(io::ErrorKind::InvalidInput, message))?;
    let staging = sibling(dir, "tmp");
    let result = write_files(&staging, files).and_then(|()| swap_into_place(&staging, dir));
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&staging);
    }
    result
}

fn write_files(root: &Path, files: &BTreeMap<String, String>) -> io::Result<()> {
    std::fs::create_dir_all(root)?;
    for (name, content) in files {
        let path = root.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, content)?;
    }
    Ok(())
}

/// Moves `staging` to `dir`; an existing `dir` ends up at `staging` and is removed.
fn swap_into_place(staging: &Path, dir: &Path) -> io::Result<()> {
    if std::fs::symlink_metadata(dir).is_err() {
        return std::fs::rename(staging, dir);
    }
    let exchanged = rustix::fs::renameat_with(
        rustix::fs::CWD,
        staging,
        rustix::fs::CWD,
        dir,
        rustix::fs::RenameFlags::EXCHANGE,
    );
    if exchanged.is_ok() {
        return std::fs::remove_dir_all(staging);
    }
    // No exchange on this file system: move the old tree aside first (a short window with no
    // directory, never a partial one).
    let old = sibling(dir, "old");
    std::fs::rename(dir, &old)?;
    if let Err(e) = std::fs::rename(staging, dir) {
        let _ = std::fs::rename(&old, dir);
        return Err(e);
    }
    std::fs::remove_dir_all(&old)
}

/// `{dir}.{what}-{uuid}`, in the same directory (so renames stay on one file system).
pub(crate) fn sibling(dir: &Path, what: &str) -> PathBuf {
    let mut name = dir.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{what}-{}", uuid::Uuid::now_v7().simple()));
    dir.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(names: &[&str]) -> BTreeMap<String, String> {
        names
            .iter()
            .map(|n| ((*n).to_owned(), String::new()))
            .collect()
    }

    #[test]
    fn names_are_relative_and_plain() {
        for bad in [
            "",
            "/etc/passwd",
            "../x.py",
            "a/../../x.py",
            "a//b.py",
            "./a.py",
            "a\0.py",
            "runagents/runtime.py",
            "runagents.py",
        ] {
            assert!(validate(&files(&[bad])).is_err(), "{bad:?} accepted");
        }
        assert!(validate(&files(&["agent.py", "pkg/__init__.py", "data/x.json"])).is_ok());
        assert!(validate(&files(&["a", "a/b.py"])).is_err());
        assert!(validate(&files(&["a", "a.py", "ab/c.py"])).is_ok());
    }

    #[test]
    fn limits() {
        let many: BTreeMap<String, String> = (0..=MAX_FILES)
            .map(|i| (format!("f{i}.py"), String::new()))
            .collect();
        assert!(validate(&many).unwrap_err().contains("too many"));
        let big = BTreeMap::from([("a.py".to_owned(), "#".repeat(MAX_FILE_BYTES + 1))]);
        assert!(validate(&big).unwrap_err().contains("bytes"));
    }

    #[test]
    fn entry_point_defaults() {
        assert_eq!(
            entry_point(&files(&["main.py", "agent.py"]), "").unwrap(),
            "agent.py"
        );
        assert_eq!(
            entry_point(&files(&["main.py", "x.py"]), "").unwrap(),
            "main.py"
        );
        assert_eq!(
            entry_point(&files(&["src/bot.py", "README"]), "").unwrap(),
            "src/bot.py"
        );
        assert!(entry_point(&files(&["a.py", "b.py"]), "").is_err());
        assert!(entry_point(&files(&["README"]), "").is_err());
        assert_eq!(
            entry_point(&files(&["a.py", "b.py"]), "b.py").unwrap(),
            "b.py"
        );
        assert!(entry_point(&files(&["a.py"]), "c.py").is_err());
        assert!(entry_point(&files(&["a.txt"]), "a.txt").is_err());
    }

    #[test]
    fn write_tree_replaces_whole_tree() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("code");
        write_tree(
            &dir,
            &BTreeMap::from([
                ("agent.py".to_owned(), "x = 1\n".to_owned()),
                ("pkg/util.py".to_owned(), "y = 2\n".to_owned()),
            ]),
        )
        .unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.join("pkg/util.py")).unwrap(),
            "y = 2\n"
        );
        write_tree(
            &dir,
            &BTreeMap::from([("agent.py".to_owned(), "x = 3\n".to_owned())]),
        )
        .unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.join("agent.py")).unwrap(),
            "x = 3\n"
        );
        assert!(!dir.join("pkg").exists());
        let err = write_tree(&dir, &files(&["../escape.py"])).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        // Only the code directory is left: no staging or old trees beside it.
        let left: Vec<_> = std::fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, vec![std::ffi::OsString::from("code")]);
    }
}
