//! The deploy files hold: Debian's nginx accepts `deploy/nginx/vstack.conf`
//! (with a throwaway certificate in place of the real paths) and Caddy
//! accepts `deploy/caddy/Caddyfile`, per-client limits included (issue 22:
//! behind a proxy those limits are the proxy's).

mod common;

use std::{path::Path, process::Command};

fn repo() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

#[test]
fn nginx_accepts_the_deploy_config_with_its_per_client_limits() {
    if !common::tool("nginx") || !common::tool("openssl") {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let (cert, key) = (d.path().join("cert.pem"), d.path().join("key.pem"));
    let ok = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=x",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(ok.status.success());
    let conf = std::fs::read_to_string(repo().join("deploy/nginx/vstack.conf")).unwrap();
    for limit in [
        "limit_conn ",
        "limit_req ",
        "client_header_timeout",
        "keepalive_timeout",
    ] {
        assert!(
            conf.contains(limit),
            "deploy/nginx/vstack.conf lost {limit}"
        );
    }
    let conf = conf
        .replace(
            "/etc/ssl/certs/vstack.example.com.pem",
            cert.to_str().unwrap(),
        )
        .replace(
            "/etc/ssl/private/vstack.example.com.key",
            key.to_str().unwrap(),
        );
    std::fs::write(d.path().join("vstack.conf"), conf).unwrap();
    let main = format!(
        "pid {0}/nginx.pid;\nerror_log stderr;\nevents {{}}\nhttp {{\n include {0}/vstack.conf;\n}}\n",
        d.path().display()
    );
    std::fs::write(d.path().join("nginx.conf"), main).unwrap();
    let out = Command::new("nginx")
        .arg("-t")
        .arg("-c")
        .arg(d.path().join("nginx.conf"))
        .arg("-p")
        .arg(d.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "nginx -t: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn caddy_accepts_the_deploy_caddyfile() {
    if !common::tool("caddy") {
        return;
    }
    let home = tempfile::tempdir().unwrap();
    let out = Command::new("caddy")
        .args(["validate", "--adapter", "caddyfile", "--config"])
        .arg(repo().join("deploy/caddy/Caddyfile"))
        .env("HOME", home.path())
        .env("XDG_DATA_HOME", home.path())
        .env("XDG_CONFIG_HOME", home.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "caddy validate: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
