use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn scimsync() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_scimsync"));
    c.env_remove("SCIMSYNC_DATABASE")
        .env_remove("SCIMSYNC_LISTEN")
        .env("SCIMSYNC_LOG", "warn");
    c
}

/// A `scimsync serve` process on a free port.
pub struct Served {
    pub child: Child,
    pub base: String,
    /// The admin token printed on first start, if this was the first start.
    pub first_token: Option<String>,
}

/// Picks a free port by binding and releasing it; the tiny race is acceptable in tests.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn serve(db: &Path) -> Served {
    serve_database(&format!("sqlite://{}", db.display()))
}

/// A `scimsync serve` process on the database `url` names.
pub fn serve_database(url: &str) -> Served {
    serve_with(url, |_| {})
}

/// [`serve_database`] with more flags or environment variables, set by `configure`.
pub fn serve_with(url: &str, configure: impl FnOnce(&mut Command)) -> Served {
    let port = free_port();
    let mut command = scimsync();
    command
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .arg("--database")
        .arg(url)
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    configure(&mut command);
    let mut child = command.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let mut first_token = None;
    let deadline = Instant::now() + Duration::from_secs(30);
    let base = loop {
        assert!(Instant::now() < deadline, "server did not start");
        let line = lines.next().expect("server exited").unwrap();
        let t = line.trim();
        if t.starts_with("scim_") {
            first_token = Some(t.to_owned());
        }
        if let Some(url) = t.strip_prefix("scimsync listening on ") {
            break url.to_owned();
        }
    };
    // Keep draining stdout so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Served {
        child,
        base,
        first_token,
    }
}

pub fn create_token(db: &Path, tenant: &str) -> String {
    let out = scimsync()
        .args(["token", "create", "--tenant", tenant, "--database"])
        .arg(format!("sqlite://{}", db.display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = String::from_utf8(out.stdout).unwrap();
    assert_eq!(s.lines().count(), 1, "token alone on stdout: {s:?}");
    s.trim().to_owned()
}
