//! [`EbpfError`]: why eBPF cannot be used, in words an operator can act on. aya's
//! errors are translated here so that no aya type reaches the engine.

use std::{error::Error as StdError, io};

/// Longest verifier log excerpt kept in an error (its end, where the reason is).
const VERIFIER_EXCERPT_LINES: usize = 25;

/// Why loading, attaching or driving a BPF program failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EbpfError {
    /// The kernel refused for lack of privilege.
    #[error(
        "no permission to {what}: {source} (needs root, or CAP_BPF with CAP_NET_ADMIN; \
         check the process's capabilities and kernel.unprivileged_bpf_disabled)"
    )]
    PermissionDenied {
        /// What was being done.
        what: String,
        /// The kernel's answer.
        #[source]
        source: io::Error,
    },
    /// The kernel lacks a program type, map type or helper the programs use.
    #[error(
        "the kernel cannot {what}: {source} (kernel too old or built without it; \
         needs Linux 5.17+ with CONFIG_BPF_SYSCALL)"
    )]
    Unsupported {
        /// What was being done.
        what: String,
        /// The kernel's answer.
        #[source]
        source: io::Error,
    },
    /// The kernel verifier rejected a program.
    #[error("the kernel verifier rejected {program}: {source}; the log ends with:\n{log}")]
    Verifier {
        /// The program's name.
        program: &'static str,
        /// The last lines of the verifier log.
        log: String,
        /// The kernel's answer.
        #[source]
        source: io::Error,
    },
    /// The embedded BPF object could not be read.
    #[error("the BPF object {object} is unusable: {detail}")]
    Object {
        /// Which object.
        object: &'static str,
        /// What was wrong.
        detail: String,
    },
    /// The network interface does not exist (in this thread's network namespace).
    #[error("no network interface named {0:?}")]
    UnknownInterface(String),
    /// A value passed by the caller is out of range.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// Any other failure of a system call (map update, attach, ...).
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The kernel's answer.
        #[source]
        source: io::Error,
    },
}

impl EbpfError {
    /// Classifies an OS error met while doing `what`.
    pub(crate) fn from_io(what: impl Into<String>, source: io::Error) -> Self {
        let what = what.into();
        match source.raw_os_error() {
            Some(code) if code == libc_errno::EPERM || code == libc_errno::EACCES => {
                Self::PermissionDenied { what, source }
            }
            Some(code)
                if code == libc_errno::ENOSYS
                    || code == libc_errno::EOPNOTSUPP
                    || code == libc_errno::ENOTSUPP =>
            {
                Self::Unsupported { what, source }
            }
            _ => Self::Io { what, source },
        }
    }

    /// Translates an aya error (any of its error types) met while doing `what`.
    pub(crate) fn from_aya(
        what: impl Into<String>,
        object: &'static str,
        error: &(dyn StdError + 'static),
    ) -> Self {
        let what = what.into();
        if let Some(io_error) = first_io_error(error) {
            let source = match io_error.raw_os_error() {
                Some(code) => io::Error::from_raw_os_error(code),
                None => io::Error::new(io_error.kind(), io_error.to_string()),
            };
            return Self::from_io(format!("{what} ({error})"), source);
        }
        Self::Object {
            object,
            detail: format!("{what}: {}", chain(error)),
        }
    }

    /// Translates a failed program load: a verifier log makes it a [`Self::Verifier`].
    pub(crate) fn from_program_load(
        program: &'static str,
        error: aya::programs::ProgramError,
    ) -> Self {
        if let aya::programs::ProgramError::LoadError {
            io_error,
            verifier_log,
        } = &error
        {
            let log = verifier_log.to_string();
            if !log.trim().is_empty() && !is_permission(io_error) {
                return Self::Verifier {
                    program,
                    log: excerpt(&log),
                    source: io::Error::from_raw_os_error(io_error.raw_os_error().unwrap_or(0)),
                };
            }
        }
        Self::from_aya(format!("load program {program}"), program, &error)
    }
}

fn is_permission(error: &io::Error) -> bool {
    matches!(
        error.raw_os_error(),
        Some(code) if code == libc_errno::EPERM
    )
}

/// The last lines of a verifier log, where it says why.
fn excerpt(log: &str) -> String {
    let lines: Vec<&str> = log.lines().filter(|line| !line.trim().is_empty()).collect();
    let start = lines.len().saturating_sub(VERIFIER_EXCERPT_LINES);
    lines[start..].join("\n")
}

fn first_io_error<'a>(error: &'a (dyn StdError + 'static)) -> Option<&'a io::Error> {
    let mut current = Some(error);
    while let Some(error) = current {
        if let Some(io_error) = error.downcast_ref::<io::Error>() {
            return Some(io_error);
        }
        current = error.source();
    }
    None
}

fn chain(error: &(dyn StdError + 'static)) -> String {
    let mut text = error.to_string();
    let mut current = error.source();
    while let Some(error) = current {
        text.push_str(": ");
        text.push_str(&error.to_string());
        current = error.source();
    }
    text
}

/// The errno values the classification needs (Linux, every architecture we build for).
mod libc_errno {
    pub(super) const EPERM: i32 = 1;
    pub(super) const EACCES: i32 = 13;
    pub(super) const ENOSYS: i32 = 38;
    pub(super) const EOPNOTSUPP: i32 = 95;
    /// The kernel-internal "not supported" that BPF syscalls leak to user space.
    pub(super) const ENOTSUPP: i32 = 524;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_classification() {
        let denied = EbpfError::from_io("load", io::Error::from_raw_os_error(1));
        assert!(
            matches!(denied, EbpfError::PermissionDenied { .. }),
            "{denied}"
        );
        let old = EbpfError::from_io("load", io::Error::from_raw_os_error(524));
        assert!(matches!(old, EbpfError::Unsupported { .. }), "{old}");
        let other = EbpfError::from_io("update", io::Error::from_raw_os_error(9));
        assert!(matches!(other, EbpfError::Io { .. }), "{other}");
        assert!(denied.to_string().contains("CAP_BPF"));
    }

    #[test]
    fn excerpt_keeps_the_end() {
        let log: String = (0..100).map(|n| format!("line {n}\n")).collect();
        let kept = excerpt(&log);
        assert_eq!(kept.lines().count(), VERIFIER_EXCERPT_LINES);
        assert!(kept.ends_with("line 99"));
    }
}
