use std::time::{Duration, Instant};

use runagents_hosting::{BuildRequest, Hosting, RUNTIME_PIN};

use crate::common::{HANDLER, entries, runtime_env, shared, sources};

fn request(requirements: &str, files: &[(&str, &str)]) -> BuildRequest {
    BuildRequest {
        requirements: requirements.to_owned(),
        source_files: sources(files),
        entry_point: String::new(),
    }
}

#[tokio::test]
async fn the_runtime_environment_works_and_is_shared() {
    let built = runtime_env().await;
    assert_eq!(built.python, built.env_dir.join("bin/python"));
    assert_eq!(built.entry_point, "agent.py");
    assert!(built.env_dir.join(".ready").is_file());
    // The environment was renamed into place: it must still find itself and the pin.
    let out = std::process::Command::new(&built.python)
        .args([
            "-c",
            "import sys, runagents.runtime, importlib.metadata as m; print(sys.prefix); print(m.version('runagents'))",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = String::from_utf8(out.stdout).unwrap();
    let mut lines = out.lines();
    assert_eq!(
        lines.next().map(std::path::PathBuf::from),
        Some(built.env_dir.clone())
    );
    assert_eq!(
        Some(lines.next().unwrap()),
        RUNTIME_PIN.strip_prefix("runagents==")
    );

    // A `runagents` line of the user's and comments change nothing.
    let started = Instant::now();
    let again = shared()
        .build(&request(
            "# pinned by the platform anyway\nrunagents>=1.0\n\n",
            &[("main.py", HANDLER)],
        ))
        .await
        .unwrap();
    assert!(again.reused, "{}", again.log);
    assert_eq!(again.env_dir, built.env_dir);
    assert_eq!(again.entry_point, "main.py");
    assert!(again.log.contains("reusing environment"), "{}", again.log);
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn reordered_requirements_share_an_environment() {
    let first = shared()
        .build(&request(
            "six\n# tiny, pure Python\nidna\n",
            &[("agent.py", HANDLER)],
        ))
        .await
        .unwrap_or_else(|f| panic!("{f}\n{}", f.log));
    let second = shared()
        .build(&request("idna  \n\nsix\nsix\n", &[("agent.py", HANDLER)]))
        .await
        .unwrap();
    assert!(second.reused);
    assert_eq!(first.env_dir, second.env_dir);
    let out = std::process::Command::new(&second.python)
        .args(["-c", "import six, idna, runagents"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let requirements = std::fs::read_to_string(first.env_dir.join("requirements.txt")).unwrap();
    assert_eq!(requirements, "idna\nsix\n");
}

#[tokio::test]
async fn a_syntax_error_names_file_and_line_and_installs_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let hosting = Hosting::new(dir.path());
    let failure = hosting
        .build(&request(
            "",
            &[
                ("agent.py", HANDLER),
                ("tools/util.py", "def f():\n    return 1\nx = = 2\n"),
            ],
        ))
        .await
        .unwrap_err();
    assert_eq!(
        failure.message,
        "syntax error in tools/util.py line 3: invalid syntax"
    );
    assert!(
        failure.log.contains("build failed: syntax error"),
        "{}",
        failure.log
    );
    assert!(entries(&dir.path().join("envs")).is_empty());

    let failure = hosting
        .build(&request(
            "",
            &[("agent.py", "def handler(r, c):\nreturn 1\n")],
        ))
        .await
        .unwrap_err();
    assert!(
        failure
            .message
            .starts_with("syntax error in agent.py line 2: expected an indented block"),
        "{}",
        failure.message
    );
}

#[tokio::test]
async fn bad_sources_are_refused_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let hosting = Hosting::new(dir.path()).with_python("/nonexistent/python");
    for (files, expected) in [
        (
            vec![("../agent.py", HANDLER)],
            "invalid source file name \"../agent.py\"",
        ),
        (vec![("/etc/agent.py", HANDLER)], "must be relative"),
        (vec![("a.py", HANDLER), ("b.py", HANDLER)], "no entry point"),
        (vec![("README.md", "")], "no entry point"),
    ] {
        let failure = hosting.build(&request("", &files)).await.unwrap_err();
        assert!(failure.message.contains(expected), "{}", failure.message);
    }
    let failure = hosting
        .build(&BuildRequest {
            requirements: String::new(),
            source_files: sources(&[("agent.py", HANDLER)]),
            entry_point: "other.py".to_owned(),
        })
        .await
        .unwrap_err();
    assert!(failure.message.contains("not among the source files"));
    let failure = hosting
        .build(&request(
            "requests\n-r /etc/passwd\n",
            &[("agent.py", HANDLER)],
        ))
        .await
        .unwrap_err();
    assert!(
        failure
            .message
            .starts_with("requirements line 2: pip options")
    );
    // With good sources, a missing interpreter is the failure.
    let failure = hosting
        .build(&request("", &[("agent.py", HANDLER)]))
        .await
        .unwrap_err();
    assert!(
        failure
            .message
            .starts_with("cannot run /nonexistent/python"),
        "{}",
        failure.message
    );
    assert!(entries(dir.path()).is_empty());

    let err = hosting
        .write_code(&dir.path().join("code"), &sources(&[("../x.py", "")]))
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert!(!dir.path().join("code").exists());
}

#[tokio::test]
async fn a_bogus_requirement_fails_with_pips_error_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let hosting = Hosting::new(dir.path()).with_pip_args(vec!["--retries".into(), "1".into()]);
    let failure = hosting
        .build(&request(
            "this-package-does-not-exist-xyz==0.0.1",
            &[("agent.py", HANDLER)],
        ))
        .await
        .unwrap_err();
    assert!(
        failure.message.starts_with("pip install failed: ERROR:")
            && failure.message.contains("this-package-does-not-exist-xyz"),
        "{}",
        failure.message
    );
    assert!(failure.log.contains("-m venv"), "{}", failure.log);
    assert!(
        failure.log.contains("-m pip install --disable-pip-version-check --no-input <2 operator arguments> runagents==1.4.2 -r "),
        "{}",
        failure.log
    );
    assert!(!failure.log.contains("--retries"));
    assert!(entries(&dir.path().join("envs")).is_empty());
}

#[tokio::test]
async fn concurrent_builds_install_once_per_process_and_a_removed_marker_rebuilds() {
    let dir = tempfile::tempdir().unwrap();
    let hosting = Hosting::new(dir.path());
    // Another `Hosting` on the same directory shares no lock with the first, as another
    // platform process would not: both may install, one rename wins, the other uses its result.
    let other = Hosting::new(dir.path());
    let one = request("six", &[("agent.py", HANDLER)]);
    let two = request(
        "# same set
six
",
        &[("main.py", HANDLER)],
    );
    let (a, b, c) = tokio::join!(hosting.build(&one), hosting.build(&two), other.build(&one));
    let [a, b, c] = [a, b, c].map(|built| built.unwrap_or_else(|f| panic!("{f}\n{}", f.log)));
    assert_eq!(a.env_dir, b.env_dir);
    assert_eq!(a.env_dir, c.env_dir);
    assert!(a.reused != b.reused, "one process installs a set once");
    let installs = [&a, &b]
        .iter()
        .filter(|built| built.log.contains("-m pip install"))
        .count();
    assert_eq!(installs, 1);
    assert_eq!(
        entries(&dir.path().join("envs")).len(),
        1,
        "no temporary left"
    );

    // Without its marker an environment is not trusted: the next build replaces it.
    std::fs::remove_file(a.env_dir.join(".ready")).unwrap();
    let again = hosting.build(&one).await.unwrap();
    assert!(!again.reused);
    assert!(again.env_dir.join(".ready").is_file());
    assert_eq!(entries(&dir.path().join("envs")).len(), 1);
    let out = std::process::Command::new(&again.python)
        .args(["-c", "import six, runagents.runtime"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
