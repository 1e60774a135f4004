//! How many connections a [`Server`](crate::Server) may hold by default: as many as its
//! file-descriptor limit allows, less a reserve.

/// Descriptors kept for everything that is not a connection: the listener, the runtime's
/// epoll and wake-up descriptors, standard streams, files a handler opens, a spare kept for
/// refusing connections when descriptors run out.
const RESERVED: u64 = 64;
/// The most refusals (`503` beyond the connection cap) in progress at once; each holds a
/// descriptor while it lingers.
const MAX_REFUSALS: u64 = 256;
/// The most connections a server will count with, whatever the limit says (`RLIM_INFINITY`).
const MAX_CONNECTIONS: u64 = 1 << 30;

/// What the server may hold at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Capacity {
    /// Connections served (HTTP and WebSocket, until their descriptor is closed).
    pub(crate) connections: usize,
    /// Refusals in progress beyond that.
    pub(crate) refusals: usize,
}

impl Capacity {
    /// The capacity for `max_connections`, or, when it is `None`, from the file-descriptor
    /// limit (raised to the hard limit first when `raise` is set).
    pub(crate) fn plan(max_connections: Option<usize>, raise: bool) -> Self {
        match max_connections {
            Some(connections) => Self {
                connections,
                refusals: usize::try_from(MAX_REFUSALS).unwrap_or(usize::MAX),
            },
            None => Self::for_fd_limit(fd_limit(raise)),
        }
    }

    /// Splits `limit` descriptors: a reserve of 64, up to 256 (a sixteenth of the limit) for
    /// refusals, the rest for connections.
    pub(crate) fn for_fd_limit(limit: u64) -> Self {
        let refusals = (limit / 16).min(MAX_REFUSALS);
        let connections = limit
            .saturating_sub(RESERVED + refusals)
            .clamp(1, MAX_CONNECTIONS);
        Self {
            connections: usize::try_from(connections).unwrap_or(usize::MAX),
            refusals: usize::try_from(refusals.max(1)).unwrap_or(usize::MAX),
        }
    }
}

/// The process's limit on open file descriptors (the soft limit, which the kernel enforces),
/// after raising it to the hard limit when `raise` is set and the system allows it, as nginx
/// (`worker_rlimit_nofile`), Go's runtime and Bun do at start. Where there is no such limit,
/// a large number.
fn fd_limit(raise: bool) -> u64 {
    #[cfg(unix)]
    {
        let Ok((soft, hard)) = rlimit::getrlimit(rlimit::Resource::NOFILE) else {
            return 1024;
        };
        if !raise || soft >= hard {
            return soft;
        }
        // An unlimited hard limit cannot be set as the soft limit on Linux: the kernel's
        // ceiling is fs.nr_open.
        let target = if hard == rlimit::INFINITY {
            nr_open().unwrap_or(1 << 20)
        } else {
            hard
        };
        rlimit::increase_nofile_limit(target).unwrap_or(soft)
    }
    #[cfg(not(unix))]
    {
        let _ = raise;
        MAX_CONNECTIONS
    }
}

/// Linux's ceiling on a process's descriptors.
#[cfg(unix)]
fn nr_open() -> Option<u64> {
    std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Whether an `accept` error means the process or system is out of descriptors.
pub(crate) fn out_of_fds(err: &std::io::Error) -> bool {
    // EMFILE (24) and ENFILE (23) on Linux and the BSDs; std reports neither as a kind.
    matches!(err.raw_os_error(), Some(23 | 24))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_comes_from_the_fd_limit_less_a_reserve() {
        // These machines: 20,000, not raisable. 10,000 was the fixed default.
        assert_eq!(
            Capacity::for_fd_limit(20_000),
            Capacity {
                connections: 19_680,
                refusals: 256
            }
        );
        // A common soft limit that could not be raised.
        assert_eq!(
            Capacity::for_fd_limit(1024),
            Capacity {
                connections: 896,
                refusals: 64
            }
        );
        // systemd's default hard limit.
        assert_eq!(Capacity::for_fd_limit(524_288).connections, 523_968);
        // Tiny and unlimited ones stay usable.
        assert_eq!(Capacity::for_fd_limit(16).connections, 1);
        assert_eq!(Capacity::for_fd_limit(u64::MAX).connections, 1 << 30);
    }

    #[test]
    fn an_explicit_cap_is_kept() {
        let capacity = Capacity::plan(Some(10), false);
        assert_eq!(capacity.connections, 10);
        assert_eq!(capacity.refusals, 256);
    }

    #[cfg(unix)]
    #[test]
    fn the_limit_is_raised_to_the_hard_limit_where_allowed() {
        let (_, hard) = rlimit::getrlimit(rlimit::Resource::NOFILE).unwrap();
        let raised = fd_limit(true);
        let (soft, _) = rlimit::getrlimit(rlimit::Resource::NOFILE).unwrap();
        assert_eq!(raised, soft);
        if hard != rlimit::INFINITY {
            assert_eq!(soft, hard);
        }
    }

    #[test]
    fn emfile_and_enfile_mean_out_of_descriptors() {
        assert!(out_of_fds(&std::io::Error::from_raw_os_error(24)));
        assert!(out_of_fds(&std::io::Error::from_raw_os_error(23)));
        assert!(!out_of_fds(&std::io::Error::from_raw_os_error(104)));
    }
}
