//! A PostgreSQL server for tests, and a fresh database on it per test.
//!
//! The server is `SCIMSYNC_TEST_POSTGRES` (an admin URL; CI starts a private server and sets
//! it). When that is unset, the first test process starts a private server itself, from the
//! PostgreSQL binaries under `/usr/lib/postgresql/*/bin` (Debian's `postgresql` package), into
//! `$TMPDIR/scimsync-test-postgres`, and leaves it running for the test processes that follow
//! (stop it with `pg_ctl -D $TMPDIR/scimsync-test-postgres/data stop`). Without either, tests
//! fail with a message saying so: a PostgreSQL test never passes without PostgreSQL.
//!
//! Shared by the store's conformance suite and the CLI's replica tests (`#[path]`-included).

#![allow(dead_code)]

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The admin URL of the test server, starting a private one when needed.
pub fn admin_url() -> String {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| match std::env::var("SCIMSYNC_TEST_POSTGRES") {
        Ok(url) if !url.is_empty() => url,
        _ => private_server(),
    })
    .clone()
}

/// A database of its own for one test, dropped (with its connections) when this is dropped.
#[derive(Debug)]
pub struct TestDb {
    pub url: String,
    name: String,
}

impl TestDb {
    pub async fn create() -> TestDb {
        use sqlx::Connection;
        let admin = admin_url();
        let name = unique_name();
        let mut conn = sqlx::PgConnection::connect(&admin)
            .await
            .unwrap_or_else(|e| panic!("connecting to the test PostgreSQL at {admin}: {e}"));
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("creating database {name}: {e}"));
        let url = with_database(&admin, &name);
        TestDb { url, name }
    }

    /// The database's name on the server.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        // Drop runs outside any async context that could still be polled, so the drop gets a
        // small runtime of its own on another thread.
        let (admin, name) = (admin_url(), self.name.clone());
        let dropped = std::thread::spawn(move || {
            use sqlx::Connection;
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async {
                let mut conn = sqlx::PgConnection::connect(&admin).await.ok()?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut conn)
                    .await
                    .ok()
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(_))) {
            eprintln!("could not drop test database {}", self.name);
        }
    }
}

/// A database name no other test process picks: process id, time, and a counter.
fn unique_name() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "scimsync_test_{}_{nanos}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// `url` with its database replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_part = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    format!("{host_part}/{name}{query}")
}

/// Starts (once per machine user, under a file lock shared by concurrent test processes) or
/// reuses the private server, and returns its admin URL.
fn private_server() -> String {
    let dir = std::env::temp_dir().join("scimsync-test-postgres");
    fs::create_dir_all(&dir).expect("creating the test PostgreSQL directory");
    let lock = fs::File::create(dir.join("lock")).expect("creating the lock file");
    lock.lock().expect("locking the test PostgreSQL directory");
    let port_file = dir.join("port");
    if let Ok(port) = fs::read_to_string(&port_file) {
        let port = port.trim().to_owned();
        if ready(&bin_dir(), &port) {
            return url(&port);
        }
    }
    let bin = bin_dir();
    let data = dir.join("data");
    let root = fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false);
    if !data.join("PG_VERSION").exists() {
        let _ = fs::remove_dir_all(&data);
        if root {
            // initdb refuses to run as root: the server runs as the `postgres` user.
            run(Command::new("chown").arg("-R").arg("postgres").arg(&dir));
        }
        run(as_owner(root, &bin.join("initdb"))
            .args([
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
                "-E",
                "UTF8",
                "-D",
            ])
            .arg(&data));
    }
    let port = free_port();
    let log = dir.join("server.log");
    run(as_owner(root, &bin.join("pg_ctl"))
        .arg("-D")
        .arg(&data)
        .arg("-l")
        .arg(&log)
        .arg("-o")
        .arg(format!(
            "-h 127.0.0.1 -p {port} -k {} -c fsync=off -c max_connections=500",
            dir.display()
        ))
        .args(["-w", "start"]));
    fs::write(&port_file, &port).expect("writing the port file");
    url(&port)
}

fn url(port: &str) -> String {
    format!("postgres://postgres@127.0.0.1:{port}/postgres")
}

fn ready(bin: &Path, port: &str) -> bool {
    Command::new(bin.join("pg_isready"))
        .args(["-q", "-h", "127.0.0.1", "-p", port])
        .status()
        .is_ok_and(|s| s.success())
}

/// The newest `/usr/lib/postgresql/<version>/bin` with `initdb` in it.
fn bin_dir() -> PathBuf {
    let mut found: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    found.sort();
    match found.pop() {
        Some((_, bin)) => bin,
        None => panic!(
            "PostgreSQL tests need a server: set SCIMSYNC_TEST_POSTGRES to an admin URL \
             (postgres://user@host:port/postgres) or install PostgreSQL \
             (apt-get install postgresql) so the tests can start a private one"
        ),
    }
}

fn as_owner(root: bool, program: &Path) -> Command {
    if root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn run(cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn free_port() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("finding a free port");
    l.local_addr().expect("local address").port().to_string()
}
