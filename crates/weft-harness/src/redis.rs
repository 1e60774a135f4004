//! [`RedisServer`]: a real `redis-server` on a loopback port, for the Redis bridge's tests and
//! benches, that can be killed and restarted on the same port.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::TIMEOUT;

/// A `redis-server` child process on `127.0.0.1`, with no persistence (`--save ''
/// --appendonly no`) and a scratch directory of its own. Killed, and its directory removed,
/// when dropped.
#[derive(Debug)]
pub struct RedisServer {
    binary: PathBuf,
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
}

impl RedisServer {
    /// Starts `binary` on a free port (the OS picks it), and waits until it answers `PING`.
    ///
    /// # Errors
    ///
    /// If the server cannot be started or does not answer in time.
    pub fn start(binary: &Path) -> io::Result<Self> {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.subsec_nanos());
        let dir = std::env::temp_dir().join(format!("weft-redis-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let mut server = Self {
            binary: binary.to_owned(),
            child: None,
            port: 0,
            dir,
        };
        // The port is free when the OS hands it out; another process could take it before
        // redis-server binds it, so try a few.
        let mut last_error = None;
        for _ in 0..5 {
            server.port = free_port()?;
            match server.spawn() {
                Ok(()) => return Ok(server),
                Err(err) => last_error = Some(err),
            }
        }
        Err(last_error.unwrap_or_else(|| io::Error::other("redis-server did not start")))
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// How many connections are subscribed to `channel`, sharded (`SSUBSCRIBE`) or not
    /// (`SUBSCRIBE`): how a test learns that every node's bridge has subscribed.
    ///
    /// # Errors
    ///
    /// If the server does not answer.
    pub fn subscribers(&self, channel: &str) -> io::Result<u64> {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        let mut stream = TcpStream::connect_timeout(&addr, TIMEOUT)?;
        stream.set_read_timeout(Some(TIMEOUT))?;
        let mut total = 0;
        // Redis before 7 has no sharded channels and answers SHARDNUMSUB with an error.
        for command in ["SHARDNUMSUB", "NUMSUB"] {
            write!(stream, "PUBSUB {command} {channel}\r\n")?;
            total += read_count(&mut stream)?.unwrap_or(0);
        }
        Ok(total)
    }

    /// Kills the server at once (SIGKILL): clients see their connections fail.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port, after [`kill`](Self::kill).
    ///
    /// # Errors
    ///
    /// If it cannot be started or does not answer in time.
    pub fn restart(&mut self) -> io::Result<()> {
        self.kill();
        // The port may stay in TIME_WAIT for a moment; redis-server sets SO_REUSEADDR.
        let deadline = Instant::now() + TIMEOUT;
        loop {
            match self.spawn() {
                Ok(()) => return Ok(()),
                Err(err) if Instant::now() > deadline => return Err(err),
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }

    fn spawn(&mut self) -> io::Result<()> {
        let mut child = Command::new(&self.binary)
            .args(["--bind", "127.0.0.1", "--port"])
            .arg(self.port.to_string())
            .args([
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "yes",
            ])
            .arg("--dir")
            .arg(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = child.try_wait()? {
                return Err(io::Error::other(format!(
                    "redis-server exited at start ({status}); port {} taken?",
                    self.port
                )));
            }
            if ping(self.port) {
                self.child = Some(child);
                return Ok(());
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "redis-server did not answer PING within 10 s",
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Reads one reply to `PUBSUB *NUMSUB channel`, `*2 $n channel :count`, and returns the
/// count; `None` for an error reply.
fn read_count(stream: &mut TcpStream) -> io::Result<Option<u64>> {
    let mut reply = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        stream.read_exact(&mut byte)?;
        reply.push(byte[0]);
        let text = String::from_utf8_lossy(&reply);
        if text.starts_with('-') && text.ends_with("\r\n") {
            return Ok(None);
        }
        // The reply ends with the count, the only integer element.
        if let Some(at) = text.rfind("\r\n:")
            && text.ends_with("\r\n")
            && text.len() > at + 3
        {
            let count = text[at + 3..text.len() - 2].trim();
            return count
                .parse()
                .map(Some)
                .map_err(|_| io::Error::other(format!("unexpected reply {text:?}")));
        }
        if reply.len() > 4096 {
            return Err(io::Error::other("reply too long"));
        }
    }
}

fn free_port() -> io::Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok(listener.local_addr()?.port())
}

/// Whether a Redis on `port` answers `PING` with `+PONG`.
fn ping(port: u16) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    let mut answer = [0u8; 7];
    stream.write_all(b"PING\r\n").is_ok()
        && stream.read_exact(&mut answer).is_ok()
        && &answer == b"+PONG\r\n"
}
