//! The one error type of the lab: a message with the context it was raised in.

use std::fmt;

/// A lab failure: what went wrong, with enough context (command, log excerpt) to debug it from
/// a CI log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LabError(pub String);

/// Result with [`LabError`].
pub type Result<T> = std::result::Result<T, LabError>;

impl LabError {
    /// An error with message `msg`.
    pub fn new(msg: impl Into<String>) -> Self {
        LabError(msg.into())
    }

    /// The same error with `what` prepended, for call chains ("starting bgpd: ...").
    pub fn context(self, what: impl fmt::Display) -> Self {
        LabError(format!("{what}: {}", self.0))
    }
}

impl fmt::Display for LabError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for LabError {}

impl From<std::io::Error> for LabError {
    fn from(e: std::io::Error) -> Self {
        LabError(e.to_string())
    }
}

/// For test helpers that collect failures as plain strings (`Result<_, String>` and `?`).
impl From<LabError> for String {
    fn from(e: LabError) -> Self {
        e.0
    }
}

/// Adds context to any `Result` whose error converts into [`LabError`].
pub trait Context<T> {
    /// Prepends `what` to the error message.
    fn context(self, what: impl fmt::Display) -> Result<T>;
}

impl<T, E: Into<LabError>> Context<T> for std::result::Result<T, E> {
    fn context(self, what: impl fmt::Display) -> Result<T> {
        self.map_err(|e| e.into().context(what))
    }
}
