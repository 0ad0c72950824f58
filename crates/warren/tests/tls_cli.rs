//! `warren` with TLS settings that cannot work stops at start with an error
//! naming the setting and the file, not a panic and not a half-started broker.

use std::process::{Command, Output, Stdio};

fn warren_with_config(conf: &str, dir: &std::path::Path) -> Output {
    let path = dir.join("warren.conf");
    std::fs::write(&path, conf).unwrap();
    Command::new(env!("CARGO_BIN_EXE_warren"))
        .args([
            "--amqp-port",
            "0",
            "--http-port",
            "0",
            "--metrics-port",
            "0",
        ])
        .arg("--config")
        .arg(&path)
        .arg("--data-dir")
        .arg(dir.join("data"))
        .env("WARREN_LOG", "info")
        .env_remove("WARREN_AMQP_PORT")
        .env_remove("WARREN_AMQPS_PORT")
        .env_remove("WARREN_HTTPS_PORT")
        .env_remove("WARREN_TLS_CERT")
        .env_remove("WARREN_TLS_KEY")
        .env_remove("WARREN_TLS_CA")
        .stdin(Stdio::null())
        .output()
        .expect("run warren")
}

#[track_caller]
fn assert_fails_with(out: &Output, phrases: &[&str]) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "must not start: {stderr}");
    assert!(!stderr.contains("panicked"), "no panic: {stderr}");
    for phrase in phrases {
        assert!(stderr.contains(phrase), "{phrase:?} in: {stderr}");
    }
}

#[test]
fn bad_tls_settings_stop_the_broker_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.pem");
    let junk = dir.path().join("junk.pem");
    std::fs::write(&junk, "this is not PEM").unwrap();

    let out = warren_with_config(
        &format!(
            "listeners.ssl.default = 127.0.0.1:0\nssl_options.certfile = {}\nssl_options.keyfile = {}\n",
            missing.display(),
            junk.display()
        ),
        dir.path(),
    );
    assert_fails_with(&out, &["amqps", "cannot read certfile", "missing.pem"]);

    let out = warren_with_config(
        &format!(
            "listeners.ssl.default = 127.0.0.1:0\nssl_options.certfile = {0}\nssl_options.keyfile = {0}\n",
            junk.display()
        ),
        dir.path(),
    );
    assert_fails_with(&out, &["certfile", "junk.pem", "not valid PEM"]);

    let out = warren_with_config("listeners.ssl.default = 0\n", dir.path());
    assert_fails_with(&out, &["ssl_options.certfile"]);

    let out = warren_with_config("management.ssl.port = 0\n", dir.path());
    assert_fails_with(&out, &["management.ssl.certfile"]);
}
