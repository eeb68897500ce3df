//! Child processes that die with the test: killed on drop, and on the parent's
//! death through `PR_SET_PDEATHSIG`.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::TestkitError;

/// A running child process, killed (SIGKILL) and reaped when dropped.
#[derive(Debug)]
pub struct OwnedChild {
    name: String,
    child: Child,
    // Held open so that programs which exit when stdin closes (our node harness)
    // stop as soon as this value is dropped.
    _stdin: Option<ChildStdin>,
}

impl OwnedChild {
    /// Spawn `cmd` with stdout piped, stderr piped and stdin held open.
    ///
    /// The child gets `PR_SET_PDEATHSIG = SIGKILL`. Linux ties that signal to the
    /// spawning *thread*, so call this from the thread that lives as long as the
    /// child should (the test's own thread, or a dedicated long-lived thread).
    pub fn spawn(name: &str, mut cmd: Command) -> Result<Self, TestkitError> {
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        die_with_parent(&mut cmd);
        let mut child = cmd.spawn().map_err(|source| TestkitError::Spawn {
            what: name.to_owned(),
            source,
        })?;
        let stdin = child.stdin.take();
        Ok(OwnedChild {
            name: name.to_owned(),
            child,
            _stdin: stdin,
        })
    }

    pub fn id(&self) -> u32 {
        self.child.id()
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Wait for the first stdout line, for at most `timeout`. If the process exits
    /// first, the error carries its stderr.
    pub fn first_line(&mut self, timeout: Duration) -> Result<String, TestkitError> {
        let stdout = self
            .child
            .stdout
            .take()
            .ok_or_else(|| TestkitError::NotReady {
                what: self.name.clone(),
                secs: 0,
                detail: ": stdout was already taken".into(),
            })?;
        let (tx, rx) = mpsc::sync_channel(1);
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            let result = reader.read_line(&mut line).map(|_| line);
            let _ = tx.send(result);
            // Keep draining so the child never blocks on a full pipe.
            let mut sink = Vec::new();
            let _ = reader.read_to_end(&mut sink);
        });
        match rx.recv_timeout(timeout) {
            Ok(Ok(line)) if !line.trim().is_empty() => Ok(line),
            Ok(_) | Err(mpsc::RecvTimeoutError::Disconnected) => Err(self.exited_error()),
            Err(mpsc::RecvTimeoutError::Timeout) => Err(TestkitError::NotReady {
                what: self.name.clone(),
                secs: timeout.as_secs(),
                detail: String::new(),
            }),
        }
    }

    fn exited_error(&mut self) -> TestkitError {
        let status = match self.child.wait() {
            Ok(s) => s.to_string(),
            Err(e) => format!("unknown status ({e})"),
        };
        let mut stderr = String::new();
        if let Some(mut err) = self.child.stderr.take() {
            let _ = err.read_to_string(&mut stderr);
        }
        TestkitError::Exited {
            what: self.name.clone(),
            status,
            stderr,
        }
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Kill and reap now.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for OwnedChild {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Ask the kernel to SIGKILL the child when the spawning thread dies.
pub fn die_with_parent(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs between fork and exec and only calls prctl and
    // getppid, both async-signal-safe; it allocates nothing and touches no locks.
    #[allow(unsafe_code)]
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The parent may already have died between fork and prctl.
            if libc::getppid() == 1 {
                return Err(std::io::Error::other("parent exited before exec"));
            }
            Ok(())
        });
    }
}
