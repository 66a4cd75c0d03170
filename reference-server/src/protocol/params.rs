//! Typed request parameters shared by chat completions and responses. Every field a route
//! accepts is declared with its type, even when the engine ignores its value, so a wrong type
//! is a 400 naming the field (through `ApiJson`'s path-reporting decoding) rather than a value
//! silently accepted.

use serde::Deserialize;
use serde_json::{Map, Value};

/// `service_tier`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ServiceTier {
    /// `auto`
    Auto,
    /// `default`
    Default,
    /// `flex`
    Flex,
    /// `scale`
    Scale,
    /// `priority`
    Priority,
}

impl ServiceTier {
    /// The tier as the API writes it; an absent tier is answered as `default`.
    pub fn name(tier: Option<Self>) -> &'static str {
        match tier {
            Some(Self::Auto) => "auto",
            None | Some(Self::Default) => "default",
            Some(Self::Flex) => "flex",
            Some(Self::Scale) => "scale",
            Some(Self::Priority) => "priority",
        }
    }
}

/// `verbosity` (chat) and `text.verbosity` (responses).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verbosity {
    /// `low`
    Low,
    /// `medium`
    Medium,
    /// `high`
    High,
}

/// `truncation` (responses).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Truncation {
    /// `auto`
    Auto,
    /// `disabled`
    Disabled,
}

impl Truncation {
    /// The setting as the API writes it; absent is `disabled`.
    pub fn name(t: Option<Self>) -> &'static str {
        match t {
            Some(Self::Auto) => "auto",
            None | Some(Self::Disabled) => "disabled",
        }
    }
}

/// `stop`: one sequence or up to four.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum Stop {
    /// One stop sequence.
    One(String),
    /// Several.
    Many(Vec<String>),
}

/// A parameter that is a string or an object (`function_call`, `conversation`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum TextOrObject {
    /// The string form.
    Text(String),
    /// The object form.
    Object(Map<String, Value>),
}

/// A JSON object parameter whose content this engine does not read.
pub type Object = Map<String, Value>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_read_the_api_spelling() {
        let t: Option<ServiceTier> = serde_json::from_str("\"flex\"").ok();
        assert_eq!(ServiceTier::name(t), "flex");
        assert_eq!(ServiceTier::name(None), "default");
        assert!(serde_json::from_str::<ServiceTier>("\"bogus\"").is_err());
        assert_eq!(Truncation::name(None), "disabled");
    }

    #[test]
    fn stop_is_one_string_or_a_list() {
        assert!(serde_json::from_str::<Stop>("\"x\"").is_ok());
        assert!(serde_json::from_str::<Stop>("[\"x\",\"y\"]").is_ok());
        assert!(serde_json::from_str::<Stop>("5").is_err());
    }
}
