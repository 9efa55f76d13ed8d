//! Errors of loading a rules file, each pointing at the place in the file it is about,
//! so an operator can fix a bad reload without guessing.

use std::fmt;
use std::path::PathBuf;

/// A position in the rules file, 1-based like an editor shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Location {
    /// Line number, from 1.
    pub line: usize,
    /// Column number, from 1.
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {} column {}", self.line, self.column)
    }
}

/// One semantic problem in a rules file (a regex that does not compile, a variable
/// naming an unknown field, ...).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Problem {
    /// Where in the document, as a path such as `intents[2].patterns[0]`.
    pub path: String,
    /// Where in the file, when the path could be found in it.
    pub location: Option<Location>,
    /// What is wrong, in lower case.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.location {
            Some(at) => write!(f, "{}: {} ({at})", self.path, self.message),
            None => write!(f, "{}: {}", self.path, self.message),
        }
    }
}

/// Why a rules file was refused. The running version stays in place on any of these.
#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    /// The file could not be read.
    #[error("cannot read rules file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The file is larger than [`crate::LoadOptions::max_file_bytes`].
    #[error("rules file is {size} bytes, over the limit of {limit}")]
    TooLarge {
        /// Its size in bytes.
        size: usize,
        /// The limit in bytes.
        limit: usize,
    },
    /// The YAML is malformed or does not have the schema's shape (unknown key, wrong type).
    #[error("rules file does not parse: {message}")]
    Syntax {
        /// Where, when the parser knows.
        location: Option<Location>,
        /// The parser's message, which includes the position.
        message: String,
    },
    /// The file parses but breaks the schema's rules; every problem found is listed.
    #[error("rules file has {} problem(s), the first: {}", .problems.len(), first(.problems))]
    Invalid {
        /// Every problem, in document order of discovery.
        problems: Vec<Problem>,
    },
}

fn first(problems: &[Problem]) -> String {
    problems
        .first()
        .map_or_else(String::new, ToString::to_string)
}

impl RulesError {
    /// Every position this error points at (one for a syntax error, one per located
    /// problem otherwise).
    pub fn locations(&self) -> Vec<Location> {
        match self {
            Self::Syntax { location, .. } => location.iter().copied().collect(),
            Self::Invalid { problems } => problems.iter().filter_map(|p| p.location).collect(),
            Self::Read { .. } | Self::TooLarge { .. } => Vec::new(),
        }
    }

    pub(crate) fn from_yaml(err: &serde_yaml::Error) -> Self {
        Self::Syntax {
            location: err.location().map(|l| Location {
                line: l.line(),
                column: l.column(),
            }),
            message: err.to_string(),
        }
    }
}
