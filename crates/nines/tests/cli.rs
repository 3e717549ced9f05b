//! The `nines` binary as a person runs it: its exit codes, what goes to
//! stdout and what to stderr, start-up failures, and signals. Every test
//! runs the real executable with its own temporary directories and ports, so
//! the tests can run in parallel.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_nines");
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// How long a command that should answer at once may take before the test
/// kills it and fails.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a server may take to say it is up, or to do what it was asked.
const SERVER_TIMEOUT: Duration = Duration::from_secs(30);

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn shop() -> PathBuf {
    repo_root().join("examples/shop")
}

/// `nines` with the given arguments, run from the repository root, with no
/// `NINES_*` setting inherited from whoever runs the tests.
fn nines<I, S>(args: I) -> Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let mut cmd = Command::new(BIN);
    cmd.args(args).current_dir(repo_root()).stdin(Stdio::null());
    for var in [
        "NINES_CONFIG",
        "NINES_DATA",
        "NINES_LISTEN",
        "NINES_STORE",
        "NINES_SERVER",
        "NINES_LOG_FORMAT",
        "NINES_LOG_LEVEL",
        "RUST_LOG",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("NO_COLOR", "1");
    cmd
}

/// A child process that is killed if the test fails before it exits. A
/// thread waits for it, so a test blocks on its exit instead of polling.
struct Proc {
    pid: u32,
    stdout: Option<std::process::ChildStdout>,
    stderr: Option<std::process::ChildStderr>,
    exit: mpsc::Receiver<ExitStatus>,
    status: Option<ExitStatus>,
}

impl Proc {
    fn spawn(mut cmd: Command) -> Proc {
        let mut child: Child = cmd.spawn().expect("cannot start nines");
        let (tx, exit) = mpsc::channel();
        let (stdout, stderr, pid) = (child.stdout.take(), child.stderr.take(), child.id());
        std::thread::spawn(move || {
            if let Ok(status) = child.wait() {
                let _ = tx.send(status);
            }
        });
        Proc {
            pid,
            stdout,
            stderr,
            exit,
            status: None,
        }
    }

    fn pid(&self) -> u32 {
        self.pid
    }

    fn is_running(&mut self) -> bool {
        if self.status.is_none()
            && let Ok(status) = self.exit.try_recv()
        {
            self.status = Some(status);
        }
        self.status.is_none()
    }

    /// Waits for the process to exit; `None` when it is still running at the
    /// deadline.
    fn wait_for(&mut self, timeout: Duration) -> Option<ExitStatus> {
        if self.status.is_none()
            && let Ok(status) = self.exit.recv_timeout(timeout)
        {
            self.status = Some(status);
        }
        self.status
    }

    fn kill(&mut self) {
        if self.is_running() {
            let _ = Command::new("kill")
                .arg("-KILL")
                .arg(self.pid.to_string())
                .status();
            let _ = self.wait_for(Duration::from_secs(10));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

fn read_all(pipe: impl std::io::Read + Send + 'static) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = BufReader::new(pipe).read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// What a finished command left behind.
#[derive(Debug)]
struct Out {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    elapsed: Duration,
}

/// Runs a command to its end; kills it and fails the test if it is still
/// running after `timeout`.
fn run_within(mut cmd: Command, timeout: Duration) -> Out {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let started = Instant::now();
    let mut proc = Proc::spawn(cmd);
    let stdout = read_all(proc.stdout.take().unwrap());
    let stderr = read_all(proc.stderr.take().unwrap());
    let status = proc.wait_for(timeout);
    let elapsed = started.elapsed();
    proc.kill();
    let out = Out {
        code: status.and_then(|s| s.code()),
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
        elapsed,
    };
    assert!(
        status.is_some(),
        "nines was still running after {timeout:?} and was killed: {out:#?}"
    );
    out
}

fn run<I, S>(args: I) -> Out
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    run_within(nines(args), COMMAND_TIMEOUT)
}

/// Runs a command that must succeed and print nothing on stderr; returns stdout.
fn stdout_of<I, S>(args: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let out = run(args);
    assert_eq!(out.code, Some(0), "{out:#?}");
    assert_eq!(out.stderr, "", "{out:#?}");
    out.stdout
}

fn json_of<I, S>(args: I) -> Value
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let text = stdout_of(args);
    assert!(text.ends_with('\n') && text.trim_end().lines().count() == 1);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// Asserts the shape of a usage error: exit 2, nothing on stdout, and an
/// `error:` line on stderr. Returns stderr.
fn assert_usage_error(out: &Out) -> &str {
    assert_eq!(out.code, Some(2), "{out:#?}");
    assert_eq!(out.stdout, "", "{out:#?}");
    assert!(out.stderr.starts_with("error:"), "{out:#?}");
    &out.stderr
}

/// Asserts a start-up failure: exit 1, nothing on stdout, and one line on
/// stderr, an error. Returns that line.
fn assert_one_line_start_failure(out: &Out) -> &str {
    assert_eq!(out.code, Some(1), "{out:#?}");
    assert_eq!(out.stdout, "", "{out:#?}");
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{out:#?}");
    assert!(lines[0].starts_with("error: "), "{out:#?}");
    lines[0]
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

fn append(path: &Path, text: &str) {
    let mut f = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

/// One HTTP/1.1 request over a plain socket: status and body.
fn http(addr: SocketAddr, method: &str, path: &str) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no end of headers"))?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut body = raw[split + 4..].to_vec();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("no status in {head:?}")))?;
    if head
        .lines()
        .any(|l| l.eq_ignore_ascii_case("transfer-encoding: chunked"))
    {
        body = dechunk(&body);
    }
    Ok((status, String::from_utf8(body).unwrap()))
}

fn dechunk(mut rest: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let eol = rest.windows(2).position(|w| w == b"\r\n").unwrap();
        let size_text = std::str::from_utf8(&rest[..eol]).unwrap();
        let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16).unwrap();
        rest = &rest[eol + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
}

fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    http(addr, "GET", path).unwrap_or_else(|e| panic!("GET {path}: {e}"))
}

fn get_json(addr: SocketAddr, path: &str) -> Value {
    let (status, body) = get(addr, path);
    assert_eq!(status, 200, "GET {path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
}

/// A running `nines serve`, its stderr collected line by line.
struct Server {
    proc: Proc,
    log: Arc<Mutex<String>>,
    lines: mpsc::Receiver<String>,
}

impl Server {
    fn spawn(config: &Path, data: &Path) -> Server {
        let mut cmd = nines(["serve", "--listen", "127.0.0.1:0", "--config"]);
        cmd.arg(config).arg("--data").arg(data);
        cmd.stdout(Stdio::null()).stderr(Stdio::piped());
        Server::from_proc(Proc::spawn(cmd))
    }

    /// A server started by the caller, with its stderr piped.
    fn from_proc(mut proc: Proc) -> Server {
        let stderr = proc.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, lines) = mpsc::channel();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let mut log = sink.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
                drop(log);
                let _ = tx.send(line);
            }
        });
        Server { proc, log, lines }
    }

    /// Waits for "nines is up" on stderr and returns the address it names.
    fn wait_until_up(&mut self) -> SocketAddr {
        let deadline = Instant::now() + SERVER_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains("nines is up") => {
                    let url = line
                        .split("open http://")
                        .nth(1)
                        .unwrap_or_else(|| panic!("the start-up line names no address: {line}"));
                    let addr = url.split('/').next().unwrap();
                    return addr.parse().unwrap_or_else(|e| panic!("{e}: {line}"));
                }
                Ok(_) => {}
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    panic!("nines did not say it is up in time:\n{}", self.log())
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    panic!("nines stopped before it was up:\n{}", self.log())
                }
            }
        }
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Waits for a stderr line containing `needle`; returns the whole log.
    fn wait_for_line(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + SERVER_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return self.log(),
                Ok(_) => {}
                Err(_) => panic!("no log line with {needle:?} in time:\n{}", self.log()),
            }
        }
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.proc.pid().to_string())
            .status()
            .unwrap();
        assert!(status.success(), "kill -{name} failed");
    }

    /// Waits for the server to exit; kills it and fails if it does not.
    fn wait_exit(&mut self) -> ExitStatus {
        match self.proc.wait_for(SERVER_TIMEOUT) {
            Some(status) => status,
            None => {
                self.proc.kill();
                panic!("nines did not stop in time:\n{}", self.log())
            }
        }
    }

    /// SIGTERM or SIGINT, then the exit status must be a clean 0.
    fn stop_gracefully(&mut self, signal: &str) {
        self.signal(signal);
        let status = self.wait_exit();
        assert_eq!(status.code(), Some(0), "{status:?}\n{}", self.log());
        let log = self.wait_for_line("stopped");
        assert!(
            log.contains(&format!("SIG{signal}: shutting down")),
            "{log}"
        );
    }
}

/// The listener is bound before "nines is up" is logged, so one request
/// after that line must find the server ready.
fn wait_ready(addr: SocketAddr) {
    let (status, body) = get(addr, "/-/ready");
    assert_eq!(status, 200, "{body}");
}

fn revision(addr: SocketAddr) -> i64 {
    get_json(addr, "/api/v1/status")["config"]["revision"]
        .as_i64()
        .unwrap()
}

fn metrics(addr: SocketAddr) -> String {
    let (status, text) = get(addr, "/metrics");
    assert_eq!(status, 200, "{text}");
    text
}

// ---------------------------------------------------------------------------
// Version, help and completions

#[test]
fn version_and_help() {
    assert_eq!(stdout_of(["--version"]), format!("nines {VERSION}\n"));
    assert_eq!(stdout_of(["-V"]), format!("nines {VERSION}\n"));

    let help = stdout_of(["--help"]);
    assert!(help.contains("Usage: nines <COMMAND>"), "{help}");
    for command in ["serve", "check", "calc", "status", "reload", "completions"] {
        assert!(
            help.lines()
                .any(|l| l.trim_start().starts_with(&format!("{command} "))),
            "{command} is missing from --help:\n{help}"
        );
    }
    assert!(help.contains("Exit codes:"), "{help}");
    for code in [
        "0  success",
        "1  the answer is no",
        "2  bad usage",
        "3  the nines server could not be reached",
    ] {
        assert!(
            help.contains(code),
            "{code:?} is missing from --help:\n{help}"
        );
    }

    let calc = stdout_of(["calc", "--help"]);
    assert!(calc.contains("Examples:"), "{calc}");
    for example in [
        "nines calc 99.95",
        "nines calc --serial 99.99 99.99",
        "nines calc --parallel 99.9 99.9",
        "nines calc --service checkout --config examples/shop",
        "nines calc 99.9 --json",
    ] {
        assert!(calc.contains(example), "{example:?} is missing:\n{calc}");
    }
    assert!(calc.contains("month = 30 days"), "{calc}");
    // Subcommands carry the version too.
    assert_eq!(
        stdout_of(["calc", "--version"]),
        format!("nines-calc {VERSION}\n")
    );
}

#[test]
fn no_subcommand_is_a_usage_error() {
    let out = run(Vec::<&str>::new());
    assert_eq!(out.code, Some(2), "{out:#?}");
    assert_eq!(out.stdout, "");
    assert!(out.stderr.contains("Usage: nines <COMMAND>"), "{out:#?}");
}

#[test]
fn completions_for_bash_and_an_unknown_shell() {
    let script = stdout_of(["completions", "bash"]);
    assert!(script.contains("_nines()"), "{script}");
    assert!(script.contains("complete -F _nines"), "{script}");
    for command in ["serve", "check", "calc", "status", "reload"] {
        assert!(script.contains(command), "{command} is not completed");
    }
    for shell in ["zsh", "fish"] {
        assert!(
            stdout_of(["completions", shell]).contains("nines"),
            "{shell}"
        );
    }

    let out = run(["completions", "tcsh"]);
    let err = assert_usage_error(&out);
    assert!(err.contains("invalid value 'tcsh'"), "{err}");
    assert!(
        err.contains("bash"),
        "the accepted shells are listed: {err}"
    );
}

/// `nines completions bash | head -1` is a normal thing to type; the script
/// should not end in a panic and a backtrace when the reader goes away.
#[test]
fn completions_into_a_closed_pipe_do_not_panic() {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let mut cmd = nines(["completions", "bash"]);
    cmd.stdout(writer).stderr(Stdio::piped());
    let mut proc = Proc::spawn(cmd);
    let stderr = read_all(proc.stderr.take().unwrap());
    let status = proc.wait_for(COMMAND_TIMEOUT).expect("nines hung");
    let stderr = stderr.join().unwrap();
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_ne!(status.code(), Some(101), "{stderr}");
}

/// The calc output goes through a writer that ignores a closed pipe.
#[test]
fn calc_into_a_closed_pipe_exits_quietly() {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let mut cmd = nines(["calc", "99.9"]);
    cmd.stdout(writer).stderr(Stdio::piped());
    let mut proc = Proc::spawn(cmd);
    let stderr = read_all(proc.stderr.take().unwrap());
    let status = proc.wait_for(COMMAND_TIMEOUT).expect("nines hung");
    assert_eq!(status.code(), Some(0));
    assert_eq!(stderr.join().unwrap(), "");
}

// ---------------------------------------------------------------------------
// nines calc

#[test]
fn calc_a_target_as_a_number() {
    let out = stdout_of(["calc", "99.95"]);
    assert!(out.contains("per day            43.2s\n"), "{out}");
    assert!(out.contains("per 30-day month   21m 36s\n"), "{out}");
    insta::assert_snapshot!("calc_99_95", out);
}

#[test]
fn calc_a_target_in_words() {
    let out = stdout_of(["calc", "three nines"]);
    assert!(out.starts_with("Target 99.9 % (0.999)"), "{out}");
    insta::assert_snapshot!("calc_three_nines", out);
}

#[test]
fn calc_components_in_series() {
    insta::assert_snapshot!(
        "calc_serial",
        stdout_of(["calc", "--serial", "99.99", "99.99"])
    );
}

#[test]
fn calc_redundant_replicas() {
    insta::assert_snapshot!(
        "calc_parallel",
        stdout_of(["calc", "--parallel", "99.9", "99.9"])
    );
}

#[test]
fn calc_series_and_several_redundancy_groups() {
    let out = stdout_of([
        "calc",
        "--serial",
        "99.99",
        "--parallel",
        "99.9",
        "99.9",
        "--parallel",
        "99",
        "99",
    ]);
    // Each --parallel is its own group, not one group of four.
    assert!(
        out.contains("in parallel   99.9 % | 99.9 %  ->  99.9999 %\n"),
        "{out}"
    );
    assert!(
        out.contains("in parallel   99 % | 99 %  ->  99.99 %\n"),
        "{out}"
    );
    insta::assert_snapshot!("calc_serial_and_parallel_groups", out);
}

#[test]
fn calc_a_configured_service() {
    let shop = shop();
    let out = stdout_of([
        "calc".as_ref(),
        "--service".as_ref(),
        "checkout".as_ref(),
        "--config".as_ref(),
        shop.as_os_str(),
    ]);
    insta::assert_snapshot!("calc_service_checkout", out);
}

#[test]
fn escalation_show_lists_each_step_and_whom_it_reaches() {
    let shop = shop();
    let shop = shop.to_str().unwrap();
    // Christmas night, 03:00 in Paris: dave's override on payments-primary.
    let out = stdout_of([
        "escalation",
        "show",
        "payments",
        "--config",
        shop,
        "--at",
        "2026-12-25T03:00:00+01:00",
    ]);
    insta::assert_snapshot!("escalation_show", out);
    // Saturday night, low urgency: every step waits for Monday 09:00.
    let out = stdout_of([
        "escalation",
        "show",
        "payments",
        "--config",
        shop,
        "--at",
        "2026-12-26T20:00:00+01:00",
        "--service",
        "payments-api",
        "--urgency",
        "low",
    ]);
    insta::assert_snapshot!("escalation_show_low_urgency", out);

    let out = run(["escalation", "show", "paymnets", "--config", shop]);
    assert_eq!(out.code, Some(2), "{out:#?}");
    assert_eq!(
        out.stderr,
        "error: unknown escalation policy `paymnets`; the policies are: payments\n"
    );
}

#[test]
fn calc_json_for_a_target() {
    assert_eq!(
        json_of(["calc", "99.99", "--json"]),
        json!({
            "target": 0.9999,
            "percent": 99.99,
            "budget": 0.0001,
            "downtime_s": {"day": 8.64, "week": 60.48, "28d": 241.92, "30d": 259.2, "quarter": 788.94, "year": 3155.76},
        })
    );
}

#[test]
fn calc_json_for_compositions() {
    assert_eq!(
        json_of(["calc", "--serial", "99.99", "99.99", "--json"]),
        json!({
            "availability": 0.99980001,
            "percent": 99.980001,
            "serial": [0.9999, 0.9999],
            "parallel": [],
            "downtime_s": {"day": 17.279136, "week": 120.953952, "28d": 483.815808, "30d": 518.37408, "quarter": 1577.801106, "year": 6311.204424},
        })
    );
    assert_eq!(
        json_of(["calc", "--parallel", "99.9", "99.9", "--json"]),
        json!({
            "availability": 0.999999,
            "percent": 99.9999,
            "serial": [],
            "parallel": [{"members": [0.999, 0.999], "availability": 0.999999}],
            "downtime_s": {"day": 0.0864, "week": 0.6048, "28d": 2.4192, "30d": 2.592, "quarter": 7.8894, "year": 31.5576},
        })
    );
}

#[test]
fn calc_json_for_a_configured_service() {
    let shop = shop();
    let v = json_of([
        "calc".as_ref(),
        "--service".as_ref(),
        "checkout".as_ref(),
        "--config".as_ref(),
        shop.as_os_str(),
        "--json".as_ref(),
    ]);
    // 0.999 (checkout) x 0.9995 (payments-api) x 0.9999 (postgres-primary)
    // x (1 - 0.001^2) (dns-a | dns-b).
    assert_eq!(v["availability"], json!(0.998399651549));
    assert_eq!(
        v["factors"],
        json!([
            {"service": "checkout", "availability": 0.999, "source": "SLO checkout-availability"},
            {"service": "payments-api", "availability": 0.9995, "source": "SLO payments-api-availability"},
            {"service": "postgres-primary", "availability": 0.9999, "source": "spec.availability"},
        ])
    );
    assert_eq!(
        v["redundancy_groups"],
        json!([{
            "name": "dns",
            "declared_by": "checkout",
            "members": [{"service": "dns-a", "availability": 0.999}, {"service": "dns-b", "availability": 0.999}],
            "availability": 0.999999,
        }])
    );
}

#[test]
fn calc_reads_every_spelling_of_a_target_alike() {
    let expected = json!({
        "target": 0.9995,
        "percent": 99.95,
        "budget": 0.0005,
        "downtime_s": {"day": 43.2, "week": 302.4, "28d": 1209.6, "30d": 1296.0, "quarter": 3944.7, "year": 15778.8},
    });
    for spelling in ["99.95", "99.95%", "0.9995", "three and a half nines"] {
        assert_eq!(
            json_of(["calc", spelling, "--json"]),
            expected,
            "{spelling}"
        );
    }
}

#[test]
fn calc_refuses_bad_targets() {
    for (target, says) in [
        ("100", "no error budget"),
        ("1", "ambiguous"),
        ("banana", "`banana` is not a target"),
        ("0", "measures nothing"),
        ("-5", "`-5` is not a target"),
    ] {
        let out = run(["calc", "--", target]);
        let err = assert_usage_error(&out);
        assert!(err.contains(says), "{target}: {err}");
        assert_eq!(err.lines().count(), 1, "{target}: {err}");
    }
    let out = run(["calc", "--serial", "99.9", "banana"]);
    assert!(assert_usage_error(&out).contains("banana"));
    let out = run(["calc", "--parallel", "99.9", "1"]);
    assert!(assert_usage_error(&out).contains("ambiguous"));
    let out = run(["calc"]);
    assert!(assert_usage_error(&out).contains("give a target"));
}

#[test]
fn calc_refuses_an_unknown_service() {
    let out = run(["calc", "--service", "nope", "--config", "examples/shop"]);
    let err = assert_usage_error(&out);
    assert_eq!(
        err,
        "error: no service named `nope`; known services: checkout, dns-a, dns-b, payments-api, postgres-primary\n"
    );
}

#[test]
fn calc_service_needs_a_readable_valid_config() {
    let out = run(["calc", "--service", "x"]);
    let err = assert_usage_error(&out);
    assert!(err.contains("--config"), "{err}");

    let out = run(["calc", "--service", "checkout", "--config", "no/such/dir"]);
    let err = assert_usage_error(&out);
    assert!(err.contains("no/such/dir"), "{err}");

    // An invalid configuration is a "no" (1), with its diagnostics.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("slo.yaml"),
        slo_yaml("api", "api-requests", "1.2"),
    )
    .unwrap();
    let out = run([
        "calc".as_ref(),
        "--service".as_ref(),
        "api".as_ref(),
        "--config".as_ref(),
        dir.path().as_os_str(),
    ]);
    assert_eq!(out.code, Some(1), "{out:#?}");
    assert_eq!(out.stdout, "");
    assert!(
        out.stderr
            .contains("slo.yaml:13:15: error: objective.target must be between 0 and 1"),
        "{out:#?}"
    );
    assert!(
        out.stderr.contains("fix them first (nines check"),
        "{out:#?}"
    );
}

// ---------------------------------------------------------------------------
// nines check

fn slo_yaml(name: &str, indicator_ref: &str, target: &str) -> String {
    format!(
        "apiVersion: openslo/v1
kind: SLO
metadata:
  name: {name}-availability
spec:
  service: {name}
  indicatorRef: {indicator_ref}
  timeWindow:
    - duration: 28d
      isRolling: true
  budgetingMethod: Occurrences
  objectives:
    - target: {target}
"
    )
}

const SLI_YAML: &str = "apiVersion: openslo/v1
kind: SLI
metadata:
  name: api-requests
spec:
  ratioMetric:
    good: {metricSource: {type: Prometheus, spec: {query: up}}}
    total: {metricSource: {type: Prometheus, spec: {query: up}}}
";

/// Runs `nines check DIR` and returns its outcome with DIR shown as `[dir]`.
fn check_dir(dir: &Path) -> Out {
    let mut out = run(["check".as_ref(), dir.as_os_str()]);
    let shown = dir.to_str().unwrap();
    out.stdout = out.stdout.replace(shown, "[dir]");
    out.stderr = out.stderr.replace(shown, "[dir]");
    out
}

#[test]
fn check_the_shipped_example() {
    let out = run(["check", "examples/shop"]);
    assert_eq!(out.code, Some(0), "{out:#?}");
    assert_eq!(out.stderr, "");
    assert_eq!(
        out.stdout,
        "ok: 4 file(s), 5 services, 3 slos, 1 slis, 1 data sources, 1 alert policies, 1 notification targets, 2 teams, 4 people, 2 schedules, 1 escalation policies; 0 warning(s)\n"
    );

    let out = run(["check", "--quiet", "examples/shop"]);
    assert_eq!(
        (out.code, out.stdout.as_str(), out.stderr.as_str()),
        (Some(0), "", "")
    );

    // One file on its own is checked too.
    assert_eq!(
        stdout_of(["check", "examples/shop/slos.yaml"]),
        "ok: 1 file(s), 2 services, 3 slos, 1 slis, 1 data sources, 1 alert policies, 1 notification targets; 0 warning(s)\n"
    );
}

#[test]
fn check_reports_problems_in_every_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("a.yaml"),
        slo_yaml("a", "api-requests", "1.2"),
    )
    .unwrap();
    let mut b = String::from(SLI_YAML);
    b.push_str("---\n");
    b.push_str(
        &slo_yaml("b", "api-requests", "0.99")
            .replace("  service: b\n", "  service: b\n  colour: blue\n"),
    );
    std::fs::write(dir.path().join("b.yaml"), b).unwrap();

    let out = check_dir(dir.path());
    assert_eq!(out.code, Some(1), "{out:#?}");
    assert_eq!(out.stdout, "");
    assert!(
        out.stderr.contains("[dir]/a.yaml:13:15: error: "),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("[dir]/b.yaml:16:3: error: unknown field `colour`"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.ends_with("2 error(s) found\n"), "{}", out.stderr);
    insta::assert_snapshot!("check_two_files_two_errors", out.stderr);
}

#[test]
fn check_refuses_a_group_window_that_is_not_positive() {
    let dir = tempfile::tempdir().unwrap();
    let service = |name: &str, window: &str| {
        format!(
            "apiVersion: nines/v1\nkind: Service\nmetadata: {{name: {name}}}\nspec:\n  incidents:\n    groupWindow: {window}\n"
        )
    };
    std::fs::write(dir.path().join("a.yaml"), service("a", "-30m")).unwrap();
    std::fs::write(dir.path().join("b.yaml"), service("b", "0m")).unwrap();
    let out = check_dir(dir.path());
    assert_eq!(out.code, Some(1), "{out:#?}");
    assert_eq!(out.stdout, "");
    for says in [
        "[dir]/a.yaml:6:18: error: Service spec.incidents.groupWindow",
        "[dir]/b.yaml:6:18: error: Service spec.incidents.groupWindow: `0m`: a duration must be longer than zero",
    ] {
        assert!(out.stderr.contains(says), "{says:?} in {}", out.stderr);
    }
    assert!(out.stderr.ends_with("2 error(s) found\n"), "{}", out.stderr);
    // A positive one is accepted.
    std::fs::write(dir.path().join("a.yaml"), service("a", "30m")).unwrap();
    std::fs::write(dir.path().join("b.yaml"), service("b", "2h")).unwrap();
    let out = check_dir(dir.path());
    assert_eq!(out.code, Some(0), "{out:#?}");
}

#[test]
fn check_reports_unknown_references_in_every_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("a.yaml"),
        slo_yaml("a", "a-requets", "0.99"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("b.yaml"),
        slo_yaml("b", "b-requets", "0.99"),
    )
    .unwrap();

    let out = check_dir(dir.path());
    assert_eq!(out.code, Some(1), "{out:#?}");
    assert_eq!(out.stdout, "");
    insta::assert_snapshot!("check_two_unknown_indicator_refs", out.stderr);
}

/// Cross-references are checked only once every document could be read, so
/// an unknown indicatorRef beside a target of 1.2 shows up on the next run.
#[test]
fn check_reports_reference_errors_once_documents_are_valid() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.yaml"), slo_yaml("a", "nope", "0.99")).unwrap();
    std::fs::write(dir.path().join("b.yaml"), slo_yaml("b", "nope", "1.2")).unwrap();
    let out = check_dir(dir.path());
    assert_eq!(out.code, Some(1), "{out:#?}");
    assert!(
        out.stderr
            .contains("[dir]/b.yaml:13:15: error: objective.target"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.ends_with("1 error(s) found\n"), "{}", out.stderr);

    std::fs::write(dir.path().join("b.yaml"), slo_yaml("b", "nope", "0.99")).unwrap();
    let out = check_dir(dir.path());
    assert_eq!(out.code, Some(1), "{out:#?}");
    assert!(
        out.stderr
            .contains("[dir]/a.yaml:7:17: error: unknown SLI `nope`"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("[dir]/b.yaml:7:17: error: unknown SLI `nope`"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.ends_with("2 error(s) found\n"), "{}", out.stderr);
}

#[test]
fn check_warnings_go_to_stderr_and_pass() {
    let dir = tempfile::tempdir().unwrap();
    let text =
        slo_yaml("api", "api-requests", "0.99").replace("  budgetingMethod: Occurrences\n", "");
    std::fs::write(
        dir.path().join("slo.yaml"),
        format!("{SLI_YAML}---\n{text}"),
    )
    .unwrap();
    let out = check_dir(dir.path());
    assert_eq!(out.code, Some(0), "{out:#?}");
    assert_eq!(
        out.stdout,
        "ok: 1 file(s), 1 services, 1 slos, 1 slis; 1 warning(s)\n"
    );
    assert!(out.stderr.starts_with("[dir]/slo.yaml:"), "{}", out.stderr);
    assert!(
        out.stderr
            .contains(": warning: SLO spec has no `budgetingMethod`"),
        "{}",
        out.stderr
    );

    // --quiet drops the summary, not the warning.
    let out = run(["check".as_ref(), "-q".as_ref(), dir.path().as_os_str()]);
    assert_eq!(out.code, Some(0), "{out:#?}");
    assert_eq!(out.stdout, "");
    assert!(
        out.stderr
            .contains("warning: SLO spec has no `budgetingMethod`")
    );
}

#[test]
fn check_input_that_cannot_be_read() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing");
    let out = check_dir(&missing);
    assert_eq!(
        assert_usage_error(&out),
        "error: cannot read [dir]: No such file or directory (os error 2)\n"
    );

    std::fs::write(dir.path().join("notes.txt"), "not yaml").unwrap();
    let out = check_dir(dir.path());
    assert_eq!(
        assert_usage_error(&out),
        "error: cannot read [dir]: the directory holds no .yaml or .yml file\n"
    );
}

// ---------------------------------------------------------------------------
// nines serve: start-up failures

/// How long a start-up failure may take: it must be quick, not a hang.
const START_FAILURE_TIMEOUT: Duration = Duration::from_secs(10);

fn serve_cmd(config: &Path, data: &Path, listen: &str) -> Command {
    let mut cmd = nines(["serve", "--listen", listen, "--config"]);
    cmd.arg(config).arg("--data").arg(data);
    cmd
}

#[test]
fn serve_usage_errors() {
    let out = run(["serve"]);
    let err = assert_usage_error(&out);
    assert!(err.contains("--config"), "{err}");
    let out = run([
        "serve",
        "--config",
        "examples/shop",
        "--listen",
        "localhost",
    ]);
    let err = assert_usage_error(&out);
    assert!(err.contains("'localhost'"), "{err}");
    assert!(err.contains("--listen"), "{err}");
}

#[test]
fn serve_refuses_an_invalid_config() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config");
    std::fs::create_dir(&config).unwrap();
    std::fs::write(
        config.join("slo.yaml"),
        slo_yaml("api", "api-requests", "1.2"),
    )
    .unwrap();
    let data = dir.path().join("data");
    let out = run_within(
        serve_cmd(&config, &data, "127.0.0.1:0"),
        START_FAILURE_TIMEOUT,
    );
    assert_eq!(out.code, Some(1), "{out:#?}");
    assert_eq!(out.stdout, "");
    // The diagnostic comes as `check` prints it, then one verdict line.
    assert!(
        out.stderr
            .trim_end()
            .lines()
            .last()
            .unwrap()
            .starts_with("error: the configuration has 1 error(s)"),
        "{out:#?}"
    );
    assert!(
        out.stderr.starts_with(&format!(
            "{}:13:15: error: objective.target must be between 0 and 1",
            config.join("slo.yaml").display()
        )),
        "{out:#?}"
    );
    assert!(
        out.stderr
            .trim_end()
            .ends_with("the configuration has 1 error(s); nines did not start"),
        "{out:#?}"
    );
    assert!(
        !data.exists(),
        "nothing is written for a config that is refused"
    );
}

#[test]
fn serve_reports_a_port_in_use() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = run_within(serve_cmd(&shop(), &data, &addr), START_FAILURE_TIMEOUT);
    let line = assert_one_line_start_failure(&out);
    assert!(
        line.starts_with(&format!("error: cannot listen on {addr}: ")),
        "{line}"
    );
    assert!(line.contains("in use"), "{line}");
    assert!(
        !data.exists(),
        "the port is checked before the store is touched"
    );
    drop(taken);
}

#[test]
fn serve_refuses_a_data_dir_in_use_and_stops_gracefully() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut first = Server::spawn(&shop(), &data);
    let addr = first.wait_until_up();
    assert!(data.join("nines.lock").exists());
    assert!(data.join("nines.db").exists());

    let out = run_within(
        serve_cmd(&shop(), &data, "127.0.0.1:0"),
        START_FAILURE_TIMEOUT,
    );
    let line = assert_one_line_start_failure(&out);
    assert!(line.contains("in use by another nines process"), "{line}");
    assert!(line.contains(&data.display().to_string()), "{line}");

    // The refused second process disturbed nothing.
    assert!(first.proc.is_running());
    assert_eq!(get(addr, "/-/ready").0, 200);
    first.stop_gracefully("TERM");

    // The lock goes with the process: the data dir can be used again.
    let mut again = Server::spawn(&shop(), &data);
    let addr = again.wait_until_up();
    assert_eq!(get(addr, "/-/ready").0, 200);
    again.stop_gracefully("INT");
}

#[test]
fn serve_reports_a_data_dir_it_cannot_create() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    let data = file.join("data");
    let out = run_within(
        serve_cmd(&shop(), &data, "127.0.0.1:0"),
        START_FAILURE_TIMEOUT,
    );
    let line = assert_one_line_start_failure(&out);
    assert!(
        line.starts_with(&format!("error: cannot use data dir {}: ", data.display())),
        "{line}"
    );
}

#[test]
fn serve_reports_an_unreachable_postgres_without_its_password() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = serve_cmd(&shop(), &dir.path().join("data"), "127.0.0.1:0");
    cmd.args(["--store", "postgres://postgres:secretpw@127.0.0.1:1/nines"]);
    let out = run_within(cmd, START_FAILURE_TIMEOUT);
    let line = assert_one_line_start_failure(&out);
    assert!(line.contains("127.0.0.1:1"), "{line}");
    assert!(!out.stderr.contains("secretpw"), "{out:#?}");
    assert!(out.elapsed < Duration::from_secs(10), "{out:#?}");
}

#[test]
fn serve_reports_an_unsupported_store_url_without_its_password() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = serve_cmd(&shop(), &dir.path().join("data"), "127.0.0.1:0");
    cmd.args(["--store", "mysql://root:secretpw@db.internal/nines"]);
    let out = run_within(cmd, START_FAILURE_TIMEOUT);
    let line = assert_one_line_start_failure(&out);
    assert!(line.contains("invalid store URL"), "{line}");
    assert!(
        line.contains("postgres://"),
        "the message says what works: {line}"
    );
    assert!(!out.stderr.contains("secretpw"), "{out:#?}");
}

// ---------------------------------------------------------------------------
// nines serve: SIGHUP, nines status, nines reload

#[test]
fn sighup_and_nines_reload_apply_a_valid_config_and_refuse_an_invalid_one() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config");
    copy_dir(&shop(), &config);
    let data = dir.path().join("data");
    let mut server = Server::spawn(&config, &data);
    let addr = server.wait_until_up();
    wait_ready(addr);
    let server_url = format!("http://{addr}");
    let first = revision(addr);
    assert!(metrics(addr).contains("nines_config_last_reload_successful 1"));

    // (a) A broken config is refused on SIGHUP; the running one stays.
    let teams = config.join("teams.yaml");
    let teams_text = std::fs::read_to_string(&teams).unwrap();
    append(&teams, "colour: blue\n");
    server.signal("HUP");
    let log = server.wait_for_line("configuration reload refused");
    let text = metrics(addr);
    assert!(
        text.contains("nines_config_last_reload_successful 0"),
        "{text}"
    );
    assert!(
        text.contains("nines_config_reloads_total{result=\"failure\"} 1"),
        "{text}"
    );
    assert_eq!(revision(addr), first);
    assert!(server.proc.is_running(), "a refused reload stops nothing");
    assert!(log.contains("unknown field `colour`"), "{log}");
    assert!(log.contains("teams.yaml"), "{log}");

    // (b) A fixed config, with one more service, is applied on SIGHUP.
    std::fs::write(&teams, &teams_text).unwrap();
    append(
        &config.join("services.yaml"),
        "- apiVersion: openslo/v1\n  kind: Service\n  metadata:\n    name: search\n",
    );
    server.signal("HUP");
    server.wait_for_line("configuration reloaded");
    let second = revision(addr);
    assert!(second > first, "{second} after {first}");
    let status = get_json(addr, "/api/v1/status");
    assert_eq!(status["config"]["objects"]["services"], 6, "{status}");
    assert!(metrics(addr).contains("nines_config_last_reload_successful 1"));

    // (c) nines status and nines reload talk to the running server.
    let out = run(["status", "--server", &server_url]);
    assert_eq!(out.code, Some(0), "{out:#?}");
    assert_eq!(out.stderr, "");
    assert!(
        out.stdout
            .starts_with(&format!("nines {VERSION} at {server_url}\n")),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains(&format!(
            "config        revision {second} from {}",
            config.display()
        )),
        "{}",
        out.stdout
    );
    let v = json_of(["status", "--json", "--server", &server_url]);
    assert_eq!(v["config"]["revision"], second);
    // NINES_SERVER works as well as --server.
    let mut cmd = nines(["status"]);
    cmd.env("NINES_SERVER", &server_url);
    assert_eq!(run_within(cmd, COMMAND_TIMEOUT).code, Some(0));

    // An unchanged config reloads to the same revision.
    assert_eq!(
        stdout_of(["reload", "--server", &server_url]),
        format!("reloaded: configuration revision {second}\n")
    );

    let slos = config.join("slos.yaml");
    let slos_text = std::fs::read_to_string(&slos).unwrap();
    std::fs::write(&slos, slos_text.replace("target: 0.999", "target: 1.2")).unwrap();
    let out = run(["reload", "--server", &server_url]);
    assert_eq!(out.code, Some(1), "{out:#?}");
    assert_eq!(out.stdout, "");
    assert!(
        out.stderr
            .starts_with("error: the new configuration has 1 error(s) and was not applied"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains(&format!(
            "{}:44:15: error: objective.target must be between 0 and 1, exclusive, found 1.2\n",
            slos.display()
        )),
        "{}",
        out.stderr
    );
    assert_eq!(revision(addr), second);
    assert!(metrics(addr).contains("nines_config_last_reload_successful 0"));

    // Fixed again, `nines reload` applies a new revision at once.
    std::fs::write(&slos, slos_text.replace("target: 0.999", "target: 0.995")).unwrap();
    let third = second + 1;
    assert_eq!(
        stdout_of(["reload", "--server", &server_url]),
        format!("reloaded: configuration revision {third}\n")
    );
    assert_eq!(revision(addr), third);

    server.stop_gracefully("TERM");
}

/// A configuration that cannot be read at all (here: its directory emptied)
/// has no line and column; `nines reload` should still print a readable line.
#[test]
fn nines_reload_reports_an_unreadable_config_readably() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config");
    copy_dir(&shop(), &config);
    let mut server = Server::spawn(&config, &dir.path().join("data"));
    let addr = server.wait_until_up();
    wait_ready(addr);
    let first = revision(addr);
    let aside = dir.path().join("aside");
    std::fs::create_dir(&aside).unwrap();
    for name in ["services.yaml", "slos.yaml", "teams.yaml", "oncall.yaml"] {
        std::fs::rename(config.join(name), aside.join(name)).unwrap();
    }
    let out = run(["reload", "--server", &format!("http://{addr}")]);
    assert_eq!(out.code, Some(1), "{out:#?}");
    assert_eq!(out.stdout, "");
    assert!(
        out.stderr.contains(&config.display().to_string()),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("holds no .yaml or .yml file"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("null"), "{}", out.stderr);
    assert_eq!(revision(addr), first);
    server.stop_gracefully("TERM");
}

#[test]
fn status_and_reload_say_when_nines_cannot_be_reached() {
    for command in ["status", "reload"] {
        let out = run([command, "--server", "http://127.0.0.1:1"]);
        assert_eq!(out.code, Some(3), "{out:#?}");
        assert_eq!(out.stdout, "");
        assert!(
            out.stderr
                .starts_with("error: cannot reach nines at http://127.0.0.1:1: "),
            "{}",
            out.stderr
        );
        assert!(
            out.stderr.contains("--server URL or NINES_SERVER"),
            "{}",
            out.stderr
        );
    }
}

#[test]
fn status_says_when_the_server_is_not_nines() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let answer = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut request = Vec::new();
        let mut buf = [0u8; 1024];
        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = stream.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            request.extend_from_slice(&buf[..n]);
        }
        stream
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 6\r\nConnection: close\r\n\r\nhello\n")
            .unwrap();
        String::from_utf8_lossy(&request).into_owned()
    });
    let out = run(["status", "--server", &format!("http://{addr}")]);
    let request = answer.join().unwrap();
    assert!(
        request.starts_with("GET /api/v1/status HTTP/1.1\r\n"),
        "{request}"
    );
    assert_eq!(out.code, Some(3), "{out:#?}");
    assert_eq!(out.stdout, "");
    assert!(out.stderr.contains("is not nines' JSON"), "{}", out.stderr);
}

/// `nines gate` in a deploy script: 0 go, 1 frozen, 2 cannot decide.
#[test]
fn the_gate_answers_go_frozen_or_cannot_decide() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::spawn(&shop(), &dir.path().join("data"));
    let addr = server.wait_until_up();
    let url = format!("http://{addr}");
    let go = run(["gate", "--service", "checkout", "--server", &url]);
    assert_eq!(go.code, Some(0), "{go:#?}");
    assert!(
        go.stdout.starts_with("GO: checkout may ship"),
        "{}",
        go.stdout
    );

    // Spend checkout's budget: a tenth of its requests fail.
    let body = r#"{"events":[{"sli":"checkout-requests","good":900,"total":1000}]}"#;
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "POST /api/v1/sli/events HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // The event is stamped now; the gate looks at the minute it falls in
    // once that minute has begun, which it has.
    let frozen = run(["gate", "--service", "checkout", "--server", &url]);
    assert_eq!(frozen.code, Some(1), "{frozen:#?}");
    assert!(
        frozen
            .stdout
            .starts_with("FROZEN: checkout may not ship now"),
        "{}",
        frozen.stdout
    );
    assert!(
        frozen.stdout.contains("SLO checkout-availability"),
        "{}",
        frozen.stdout
    );
    let json = run(["gate", "--service", "checkout", "--server", &url, "--json"]);
    let v: Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(v["decision"], "frozen");

    // An emergency fix ships anyway: an override with a reason and an expiry.
    let usage = run([
        "gate",
        "--service",
        "checkout",
        "--override",
        "--server",
        &url,
    ]);
    assert_eq!(usage.code, Some(2), "{usage:#?}");
    let too_long = run([
        "gate",
        "--service",
        "checkout",
        "--override",
        "--reason",
        "hotfix",
        "--for",
        "30d",
        "--server",
        &url,
    ]);
    assert_eq!(too_long.code, Some(2), "{too_long:#?}");
    assert!(
        too_long.stderr.contains("between 1m and 7d"),
        "{}",
        too_long.stderr
    );
    let recorded = run([
        "gate",
        "--service",
        "checkout",
        "--override",
        "--reason",
        "hotfix INC-42",
        "--for",
        "1h",
        "--by",
        "alice",
        "--server",
        &url,
    ]);
    assert_eq!(recorded.code, Some(0), "{recorded:#?}");
    assert!(
        recorded
            .stdout
            .starts_with("override 1 recorded: checkout may ship until "),
        "{}",
        recorded.stdout
    );
    let overridden = run(["gate", "--service", "checkout", "--server", &url]);
    assert_eq!(overridden.code, Some(0), "{overridden:#?}");
    assert!(
        overridden
            .stdout
            .starts_with("GO (override): checkout may ship until "),
        "{}",
        overridden.stdout
    );
    assert!(
        overridden.stdout.contains("hotfix INC-42 (by alice)"),
        "{}",
        overridden.stdout
    );

    let unknown = run(["gate", "--service", "nope", "--server", &url]);
    assert_eq!(unknown.code, Some(2), "{unknown:#?}");
    assert!(
        unknown.stderr.contains("no service named `nope`"),
        "{}",
        unknown.stderr
    );
    let unreachable = run([
        "gate",
        "--service",
        "checkout",
        "--server",
        "http://127.0.0.1:1",
    ]);
    assert_eq!(unreachable.code, Some(2), "{unreachable:#?}");
    assert!(
        unreachable
            .stderr
            .starts_with("error: cannot decide: cannot reach nines"),
        "{}",
        unreachable.stderr
    );
    server.stop_gracefully("TERM");
}

#[test]
fn check_reads_an_alertmanager_config_and_says_what_is_not_carried_over() {
    let example = repo_root().join("examples/alertmanager/alertmanager.yml");
    let out = run([
        "check".as_ref(),
        "--alertmanager".as_ref(),
        example.as_os_str(),
    ]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stdout
            .contains("5 receiver(s) (2 webhook(s), 1 email(s), 1 Slack, 1 PagerDuty), 7 route(s)"),
        "{}",
        out.stdout
    );
    assert!(
        out.stderr.contains(
            "receiver \"dba-email\" email config: cannot read \"/etc/alertmanager/smtp-password\""
        ),
        "{}",
        out.stderr
    );
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("alertmanager.yml");
    std::fs::write(&bad, "route:\n  receiver: nope\n").unwrap();
    let out = run(["check".as_ref(), "--alertmanager".as_ref(), bad.as_os_str()]);
    assert_eq!(out.code, Some(1));
    assert!(
        out.stderr
            .contains("alertmanager.yml:2:3: error: undefined receiver \"nope\" used in route"),
        "{}",
        out.stderr
    );
}

#[test]
fn oncall_and_schedule_commands_ask_a_running_server() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::spawn(&shop(), &dir.path().join("data"));
    let addr = server.wait_until_up();
    let url = format!("http://{addr}");

    // Christmas night: the configured override puts dave on payments.
    let out = run([
        "oncall",
        "--at",
        "2026-12-25T03:00:00+01:00",
        "--server",
        &url,
    ]);
    assert_eq!(out.code, Some(0), "{out:#?}");
    assert_eq!(
        out.stdout,
        "on call at 2026-12-25T02:00:00Z:\n  \
         payments-primary     dave         (override (configuration)) until Sat 2026-12-26 09:00 CET\n  \
         platform-primary     dave         (layer daily) until Fri 2026-12-25 10:00 CET\n"
    );
    let bad = run(["oncall", "--at", "christmas", "--server", &url]);
    assert_eq!(bad.code, Some(2), "{bad:#?}");
    assert!(
        bad.stderr.contains("`christmas` is not a time"),
        "{}",
        bad.stderr
    );

    // Shifts across the spring change, shown on the schedule's clock; the
    // line about now depends on the real clock and is left out.
    let out = run([
        "schedule",
        "show",
        "payments-primary",
        "--from",
        "2026-03-27T00:00:00+01:00",
        "--until",
        "2026-03-31T00:00:00+02:00",
        "--server",
        &url,
    ]);
    assert_eq!(out.code, Some(0), "{out:#?}");
    let shown: String = out
        .stdout
        .lines()
        .filter(|l| !l.starts_with("on call now:"))
        .map(|l| format!("{l}\n"))
        .collect();
    insta::assert_snapshot!("schedule_show", shown);

    let unknown = run(["schedule", "show", "nope", "--server", &url]);
    assert_eq!(unknown.code, Some(1), "{unknown:#?}");
    assert!(
        unknown.stderr.contains("no schedule named `nope`"),
        "{}",
        unknown.stderr
    );

    // Overrides: refused with the problem named, added, listed, removed.
    let override_cmd = |extra: &[&str]| {
        let mut args = vec!["schedule", "override"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--server", &url]);
        run(args)
    };
    let zoe = override_cmd(&["add", "payments-primary", "--person", "zoe", "--for", "2h"]);
    assert_eq!(zoe.code, Some(1), "{zoe:#?}");
    assert!(
        zoe.stderr.contains("no person named `zoe`"),
        "{}",
        zoe.stderr
    );
    let backwards = override_cmd(&[
        "add",
        "payments-primary",
        "--person",
        "chloe",
        "--start",
        "2030-01-02T00:00:00Z",
        "--end",
        "2030-01-01T00:00:00Z",
    ]);
    assert_eq!(backwards.code, Some(1), "{backwards:#?}");
    assert!(
        backwards.stderr.contains("before it starts"),
        "{}",
        backwards.stderr
    );
    let added = override_cmd(&[
        "add",
        "payments-primary",
        "--person",
        "chloe",
        "--start",
        "2030-01-01T00:00:00Z",
        "--for",
        "1d",
        "--reason",
        "swap",
        "--by",
        "alice",
    ]);
    assert_eq!(added.code, Some(0), "{added:#?}");
    assert_eq!(
        added.stdout,
        "override added to payments-primary: #1    chloe        2030-01-01T00:00:00Z - 2030-01-02T00:00:00Z  swap (by alice)\n"
    );
    let listed = override_cmd(&["list", "payments-primary"]);
    assert!(listed.stdout.contains("#1    chloe"), "{}", listed.stdout);
    let (_, v) = get(addr, "/api/v1/oncall?at=2030-01-01T12:00:00Z");
    let v: Value = serde_json::from_str(&v).unwrap();
    assert_eq!(v["schedules"][0]["on_call"]["name"], "chloe");
    let removed = override_cmd(&["remove", "payments-primary", "1"]);
    assert_eq!(removed.code, Some(0), "{removed:#?}");
    assert_eq!(
        removed.stdout,
        "override #1 removed from payments-primary\n"
    );
    let again = override_cmd(&["remove", "payments-primary", "1"]);
    assert_eq!(again.code, Some(1), "{again:#?}");
    assert!(
        again.stderr.contains("has no override #1"),
        "{}",
        again.stderr
    );
    server.stop_gracefully("TERM");
}

#[test]
fn serve_refuses_an_smtp_server_it_cannot_use() {
    let shop = repo_root().join("examples/shop");
    let dir = tempfile::tempdir().unwrap();
    let serve = |smtp: &[&str]| {
        let mut args: Vec<std::ffi::OsString> = vec![
            "serve".into(),
            "--config".into(),
            shop.clone().into(),
            "--data".into(),
            dir.path().into(),
            "--listen".into(),
            "127.0.0.1:0".into(),
        ];
        args.extend(smtp.iter().map(Into::into));
        run(args)
    };
    let out = serve(&["--smtp-smarthost", "smtp.example.com"]);
    assert_eq!(out.code, Some(2), "{out:#?}");
    assert!(
        out.stderr
            .contains("--smtp-smarthost `smtp.example.com` is not host:port"),
        "{out:#?}"
    );
    let out = serve(&["--smtp-smarthost", "smtp.example.com:587"]);
    assert_eq!(out.code, Some(2), "{out:#?}");
    assert!(
        out.stderr
            .contains("--smtp-from (NINES_SMTP_FROM) is needed with --smtp-smarthost"),
        "{out:#?}"
    );
}

// ---------------------------------------------------------------------------
// A crash between a notification's decision and its delivery

/// A configuration directory under `dir` with one service, checkout, whose
/// incidents go to an Alertmanager-format webhook on `port`.
fn webhook_config(dir: &Path, port: u16) -> PathBuf {
    let config = dir.join("config");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(
        config.join("services.yaml"),
        format!(
            "apiVersion: nines/v1\nkind: Service\nmetadata: {{name: checkout}}\nspec:\n  notify:\n    - webhook: http://127.0.0.1:{port}/hook\n"
        ),
    )
    .unwrap();
    config
}

/// POSTs a JSON body; the status and the body of the answer.
fn post_json(addr: SocketAddr, path: &str, body: &str) -> (u16, String) {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = answer
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    (status, body)
}

/// Reads one HTTP request from `stream`: its Idempotency-Key and its body.
fn read_request(stream: &TcpStream) -> (String, Vec<u8>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let (mut len, mut key) = (0, String::new());
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        let lower = line.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("content-length:") {
            len = v.trim().parse().unwrap_or(0);
        }
        if lower.starts_with("idempotency-key:") {
            key = line["idempotency-key:".len()..].trim().to_owned();
        }
    }
    let mut body = vec![0; len];
    reader.read_exact(&mut body).unwrap();
    (key, body)
}

/// The first connection `listener` accepts, within the server timeout.
fn accept_one(listener: TcpListener) -> TcpStream {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        if let Ok((s, _)) = listener.accept() {
            let _ = tx.send(s);
        }
    });
    rx.recv_timeout(SERVER_TIMEOUT)
        .expect("nines never tried to deliver the notification")
}

#[test]
fn a_notification_decided_before_a_kill_is_delivered_once_after_the_restart() {
    let tmp = tempfile::tempdir().unwrap();
    // The receiver takes the request and never answers: the delivery is in
    // flight when nines is killed.
    let hung = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = hung.local_addr().unwrap().port();
    let config = webhook_config(tmp.path(), port);
    let data = tmp.path().join("data");
    let mut server = Server::spawn(&config, &data);
    let addr = server.wait_until_up();
    let (status, answer) = post_json(
        addr,
        "/api/v2/alerts",
        r#"[{"labels":{"alertname":"CheckoutDown","service":"checkout","severity":"critical"}}]"#,
    );
    assert_eq!(status, 200, "{answer}");

    let in_flight = accept_one(hung);
    let (key, _) = read_request(&in_flight);
    assert!(key.starts_with("nines-"), "{key:?}");
    // An Alertmanager webhook leaves while its decision commits: once the
    // incident is there, so is the notification (one transaction).
    let deadline = Instant::now() + SERVER_TIMEOUT;
    while get(addr, "/api/v1/incidents/1").0 != 200 {
        assert!(Instant::now() < deadline, "the incident was never written");
        std::thread::yield_now();
    }
    // Killed with the delivery unanswered.
    server.proc.kill();
    drop(in_flight);

    // The receiver is back and answers; nines starts again on its data.
    let back = TcpListener::bind(("127.0.0.1", port)).unwrap();
    let (tx, got) = mpsc::channel();
    std::thread::spawn(move || {
        for s in back.incoming() {
            let Ok(mut s) = s else { continue };
            let (key, body) = read_request(&s);
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            let _ = tx.send((key, body));
        }
    });
    let mut server = Server::spawn(&config, &data);
    let addr = server.wait_until_up();
    let (again, body) = got
        .recv_timeout(SERVER_TIMEOUT)
        .unwrap_or_else(|_| panic!("not delivered after the restart:\n{}", server.log()));
    assert_eq!(again, key, "the same notification, under the same key");
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["alerts"][0]["labels"]["alertname"], "CheckoutDown");

    // Delivered once: the timeline has one delivery for that key, and the
    // outbox nothing left to send for it.
    let deadline = Instant::now() + SERVER_TIMEOUT;
    let delivered = loop {
        let shown = get_json(addr, "/api/v1/incidents/1");
        let n = shown["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| {
                e["kind"] == "notification_delivered" && e["details"]["idempotency_key"] == key
            })
            .count();
        // The delivery is recorded just after the receiver answered.
        if n > 0 || Instant::now() > deadline {
            break n;
        }
        std::thread::yield_now();
    };
    assert_eq!(delivered, 1);
    let pending = get_json(addr, "/api/v1/incidents/1")["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "notification_failed")
        .count();
    assert_eq!(
        pending, 0,
        "the attempt cut short by the kill is not counted as a failure"
    );
}

#[test]
fn a_receiver_that_hangs_times_out_and_the_retry_is_delivered() {
    let tmp = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let config = webhook_config(tmp.path(), port);
    // The first request is read and never answered; the next is answered.
    let (tx, got) = mpsc::channel();
    std::thread::spawn(move || {
        let mut hung = Vec::new();
        for (i, s) in listener.incoming().enumerate() {
            let Ok(mut s) = s else { continue };
            let (key, _) = read_request(&s);
            if i == 0 {
                hung.push(s);
            } else {
                let _ = write!(
                    s,
                    "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
            }
            let _ = tx.send(key);
        }
    });
    let mut cmd = serve_cmd(&config, &tmp.path().join("data"), "127.0.0.1:0");
    cmd.arg("--delivery-timeout").arg("300ms");
    cmd.stdout(Stdio::null()).stderr(Stdio::piped());
    let mut server = Server::from_proc(Proc::spawn(cmd));
    let addr = server.wait_until_up();
    let (status, answer) = post_json(
        addr,
        "/api/v2/alerts",
        r#"[{"labels":{"alertname":"CheckoutDown","service":"checkout","severity":"critical"}}]"#,
    );
    assert_eq!(status, 200, "{answer}");
    let first = got.recv_timeout(SERVER_TIMEOUT).expect("no first attempt");
    let second = got
        .recv_timeout(SERVER_TIMEOUT)
        .unwrap_or_else(|_| panic!("no retry:\n{}", server.log()));
    assert_eq!(first, second, "the retry carries the same idempotency key");
    let deadline = Instant::now() + SERVER_TIMEOUT;
    let timeline = loop {
        let shown = get_json(addr, "/api/v1/incidents/1");
        let t = shown["timeline"].as_array().unwrap().clone();
        if t.iter().any(|e| e["kind"] == "notification_delivered") || Instant::now() > deadline {
            break t;
        }
        std::thread::yield_now();
    };
    let failed = timeline
        .iter()
        .find(|e| e["kind"] == "notification_retry")
        .unwrap_or_else(|| panic!("{timeline:?}"));
    let error = failed["details"]["error"].as_str().unwrap();
    assert!(
        error.contains("timed out") || error.contains("timeout"),
        "{error}"
    );
    assert!(
        timeline
            .iter()
            .any(|e| e["kind"] == "notification_delivered"),
        "{timeline:?}"
    );
}
