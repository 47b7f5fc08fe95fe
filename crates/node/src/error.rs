//! The one error type of commands and queries: what kind of refusal, and which field.

use std::fmt;

/// Why a command or query was refused. Drivers map it to their transport's codes (gRPC:
/// INVALID_ARGUMENT, NOT_FOUND, FAILED_PRECONDITION, ALREADY_EXISTS).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The value itself is wrong (a VNI above 24 bits, a group MAC, a bad hold time).
    InvalidArgument,
    /// The value names something that does not exist (an unknown VNI or neighbour).
    NotFound,
    /// The value is fine but the router is not in a state to act on it (engine off, session
    /// not Established).
    FailedPrecondition,
    /// The thing to create exists already (a neighbour or VNI configured twice).
    AlreadyExists,
}

/// A refused command or query. Nothing of the command was applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandError {
    /// The kind of refusal.
    pub kind: ErrorKind,
    /// The field at fault, as the API and the configuration name it (`vni`, `mac`, `ip`,
    /// `address`, `hold-time`, ...).
    pub field: &'static str,
    /// What is wrong, for a human.
    pub message: String,
}

impl CommandError {
    /// An [`ErrorKind::InvalidArgument`] refusal of `field`.
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        CommandError {
            kind: ErrorKind::InvalidArgument,
            field,
            message: message.into(),
        }
    }

    /// An [`ErrorKind::NotFound`] refusal of `field`.
    pub fn not_found(field: &'static str, message: impl Into<String>) -> Self {
        CommandError {
            kind: ErrorKind::NotFound,
            field,
            message: message.into(),
        }
    }

    /// An [`ErrorKind::FailedPrecondition`] refusal of `field`.
    pub fn precondition(field: &'static str, message: impl Into<String>) -> Self {
        CommandError {
            kind: ErrorKind::FailedPrecondition,
            field,
            message: message.into(),
        }
    }

    /// An [`ErrorKind::AlreadyExists`] refusal of `field`.
    pub fn exists(field: &'static str, message: impl Into<String>) -> Self {
        CommandError {
            kind: ErrorKind::AlreadyExists,
            field,
            message: message.into(),
        }
    }
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for CommandError {}
