//! The operating-system calls Warren makes through libc, and the only module
//! of the workspace where `unsafe` code is allowed (`[workspace.lints]`
//! denies it everywhere else). Each function wraps one call in a safe API.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// The size of a memory page in bytes (4096 if the system does not say).
pub fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u64::try_from(size).ok().filter(|s| *s > 0).unwrap_or(4096)
}

/// Clock ticks per second, the unit of CPU times in `/proc/<pid>/stat`
/// (100 if the system does not say).
pub fn clock_ticks_per_second() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(ticks).ok().filter(|t| *t > 0).unwrap_or(100)
}

/// Free bytes available to unprivileged users on the file system holding
/// `path`, or `None` if it cannot be read.
pub fn disk_free_at(path: &Path) -> Option<u64> {
    let c_path = CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: statvfs is plain data; all zeroes is a valid value of it.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: the path is a valid C string and `st` a valid out-pointer.
    if unsafe { libc::statvfs(c_path.as_ptr(), &mut st) } != 0 {
        return None;
    }
    Some((st.f_bavail as u64).saturating_mul(st.f_frsize as u64))
}

/// The soft and hard limits on open file descriptors, or `None` if they
/// cannot be read.
pub fn file_limits() -> Option<(u64, u64)> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes into the struct passed.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return None;
    }
    Some((limit.rlim_cur, limit.rlim_max))
}

/// Raises the soft limit on open file descriptors to at least `want`, up to
/// the hard limit (or beyond it where the process is privileged enough to
/// raise the hard limit too). Returns the soft limit in force afterwards.
pub fn raise_file_limit(want: u64) -> u64 {
    let Some((soft, hard)) = file_limits() else {
        return 0;
    };
    if soft >= want {
        return soft;
    }
    let wanted = libc::rlimit {
        rlim_cur: want,
        rlim_max: hard.max(want),
    };
    // SAFETY: setrlimit only reads the struct passed.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &wanted) } == 0 {
        return want;
    }
    let to_hard = libc::rlimit {
        rlim_cur: hard,
        rlim_max: hard,
    };
    // SAFETY: as above.
    if hard > soft && unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &to_hard) } == 0 {
        return hard;
    }
    soft
}

/// Restores the default disposition of SIGPIPE (the Rust runtime ignores
/// it), so that a command-line tool whose output pipe closes ends quietly,
/// as a shell tool does, instead of failing on a write. Call it before any
/// thread is started.
pub fn restore_default_sigpipe() {
    // SAFETY: signal() with SIG_DFL installs no handler code; the caller runs
    // it before other threads exist.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_and_sizes_are_read() {
        assert!(page_size() >= 4096);
        assert!(clock_ticks_per_second() > 0);
        let (soft, hard) = file_limits().expect("getrlimit");
        assert!(soft <= hard);
        assert!(raise_file_limit(soft) >= soft);
        assert!(disk_free_at(Path::new("/")).is_some());
        assert!(disk_free_at(Path::new("/no/such/dir/at/all")).is_none());
    }
}
