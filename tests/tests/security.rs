//! Security: TLS connection strings against a TLS-only database server, and secrets kept out of errors.

use printcore::{CoreConfig, Error, PrintCore};
use printcore_tests::db::{start_secantus_with, Mode};
use std::process::Command;

/// A test CA and a server certificate for 127.0.0.1 signed by it: (CA file, server cert, server key).
fn certificates(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let p = |n: &str| dir.join(n);
    let run = |args: &[&str]| {
        let status = Command::new("openssl").args(args).current_dir(dir).stderr(std::process::Stdio::null()).status();
        assert!(status.expect("openssl").success(), "openssl {args:?} failed");
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=printcore test CA",
        "-addext",
        "basicConstraints=critical,CA:true",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        "key.pem",
        "-out",
        "server.csr",
    ]);
    std::fs::write(
        p("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:false\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "1",
        "-out",
        "cert.pem",
        "-extfile",
        "ext.cnf",
    ]);
    (p("ca.pem"), p("cert.pem"), p("key.pem"))
}

#[tokio::test]
async fn tls_connection_strings_work_and_an_untrusted_certificate_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = certificates(dir.path());
    let args = vec![
        "--tls-cert-file".to_owned(),
        cert.display().to_string(),
        "--tls-key-file".to_owned(),
        key.display().to_string(),
    ];
    let server = start_secantus_with(Mode::ReplicaSet, dir.path().join("data"), 0, &args).unwrap();
    let port = server.port().unwrap();
    let uri = format!("mongodb://127.0.0.1:{port}/?directConnection=true&tls=true&tlsCAFile={}", ca.display());
    let core = PrintCore::connect(&uri, "tls_check", CoreConfig::default()).await.expect("TLS with the CA file");
    core.migrate(&Default::default()).await.unwrap();
    assert!(core.printers().await.unwrap().is_empty());

    let untrusted = format!("mongodb://127.0.0.1:{port}/?directConnection=true&tls=true&serverSelectionTimeoutMS=1500");
    match PrintCore::connect(&untrusted, "tls_check", CoreConfig::default()).await {
        Err(e @ Error::Database { .. }) => assert_eq!(e.code(), "DATABASE"),
        Err(other) => panic!("expected a database error, got {other:?}"),
        Ok(_) => panic!("a certificate nobody trusts was accepted"),
    }
    let plain = format!("mongodb://127.0.0.1:{port}/?directConnection=true&serverSelectionTimeoutMS=1500");
    assert!(
        PrintCore::connect(&plain, "tls_check", CoreConfig::default()).await.is_err(),
        "plain text to a TLS server"
    );
    server.stop();
}

#[tokio::test]
async fn a_connection_error_never_shows_the_password() {
    let uri = "mongodb://shop:Secr3t-Pa55@127.0.0.1:1/?serverSelectionTimeoutMS=300";
    let e = match PrintCore::connect(uri, "x", CoreConfig::default()).await {
        Err(e) => e,
        Ok(_) => panic!("nothing listens on port 1"),
    };
    let text = format!("{e} {e:?}");
    assert!(!text.contains("Secr3t-Pa55"), "the password leaked: {text}");
    let bad = "mongodb://shop:Secr3t-Pa55@/nohost";
    let e = match PrintCore::connect(bad, "x", CoreConfig::default()).await {
        Err(e) => e,
        Ok(_) => panic!("a connection string without a host was accepted"),
    };
    assert!(!format!("{e} {e:?}").contains("Secr3t-Pa55"), "the password leaked: {e:?}");
}
